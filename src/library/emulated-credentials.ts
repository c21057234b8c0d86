import type { Credentials, QuotaLimits } from '../credentials/credentials.js';
import { parseEmulatorConfig, startEmulator, type EmulatorConfigInput, type RunningEmulator } from '../emulator/index.js';

export interface EmulatedCredentials {
  url: string;
  credentials: Credentials;
  /** Points a (reloaded) credentials file at this emulator. */
  redirect(credentials: Credentials): Credentials;
  emulator: RunningEmulator;
  close(): Promise<void>;
}

function emulatorQuota(q: QuotaLimits): Record<string, number> {
  return {
    ...(q.rpm === undefined ? {} : { rpm: q.rpm }),
    ...(q.requests === undefined ? {} : { requests: q.requests }),
    ...(q.windowMs === undefined ? {} : { window: q.windowMs }),
    ...(q.rpd === undefined ? {} : { rpd: q.rpd }),
  };
}

/**
 * `--emulator`: starts an emulator in this process that enforces the quotas the credentials file
 * declares (plus its optional `emulator:` settings), and points every project at it with a dummy
 * key. Real key files and API keys are never read or sent.
 */
export async function startEmulatorForCredentials(credentials: Credentials, jobModels: readonly string[] = []): Promise<EmulatedCredentials> {
  const raw = { ...(credentials.emulator ?? {}) } as Record<string, unknown> & { projects?: Record<string, unknown> };
  const projects: Record<string, unknown> = { ...(raw.projects ?? {}) };
  for (const project of credentials.projects) {
    // Vertex quotas are per project and base model, and `default` applies to each model on its own.
    const models: Record<string, unknown> = {};
    for (const model of new Set([...jobModels, ...Object.keys(project.quotas).filter((m) => m !== 'default')])) {
      const quota = project.quotas[model] ?? project.quotas.default;
      if (quota) models[model] = emulatorQuota(quota);
    }
    projects[project.project] = {
      ...(Object.keys(models).length > 0 ? { models } : {}),
      ...((projects[project.project] as Record<string, unknown> | undefined) ?? {}),
    };
  }
  // A Gemini API entry gets a key of its own, which the emulator counts under the entry's project label.
  const keyOf = (name: string): string => `emulator-${name}`;
  const geminiEntries = credentials.projects.filter((p) => p.api === 'gemini');
  const apiKeys: Record<string, string> = { ...((raw.api_keys as Record<string, string> | undefined) ?? {}) };
  for (const p of geminiEntries) apiKeys[keyOf(p.name)] = p.project;
  const config = parseEmulatorConfig(
    { ...raw, projects, ...(geminiEntries.length > 0 ? { api_keys: apiKeys } : {}) } as EmulatorConfigInput,
    `${credentials.file} (emulator)`,
  );
  const emulator = await startEmulator(config, { port: 0 });
  const redirect = (c: Credentials): Credentials => ({
    ...c,
    projects: c.projects.map((p) => ({
      ...p,
      endpoint: emulator.url,
      auth: { kind: 'api_key', apiKey: p.api === 'gemini' ? keyOf(p.name) : 'emulator', source: 'file' },
    })),
  });
  return {
    url: emulator.url,
    emulator,
    redirect,
    credentials: redirect(credentials),
    close: () => emulator.close(),
  };
}

/** Where a job keeps its emulator's asks per prompt: its state file. */
export interface PromptCountStore {
  emulatorPromptCounts(): [number, number][];
  saveEmulatorPromptCounts(counts: readonly (readonly [number, number])[]): void;
  commit<T>(write: () => T): Promise<T>;
}

/** How often asks are saved during a run: a `kill -9` loses at most this much (those prompts draw again as before). */
const SAVE_PROMPT_COUNTS_MS = 2000;

/**
 * Keeps the emulator's asks per prompt in the job's state file from one start to the next, so that a
 * regenerated item (retry --rejected, review --serve's "Regenerate rejected") is a new draw, as at
 * Vertex, instead of the first start's reply again. Counts, not a moving seed: a job's n-th ask of a
 * prompt is drawn alike however many starts it took, so a resumed run answers the prompts it had not
 * asked as an uninterrupted run would (a moving seed would change every later reply). Returns the cleanup that saves the last counts (run it before the store closes).
 */
export function keepPromptCounts(emulated: EmulatedCredentials, store: PromptCountStore): () => Promise<void> {
  emulated.emulator.restorePromptCounts(store.emulatorPromptCounts());
  const save = async (): Promise<void> => {
    const changed = emulated.emulator.takePromptCounts();
    if (changed.length > 0) await store.commit(() => store.saveEmulatorPromptCounts(changed));
  };
  const timer = setInterval(() => void save().catch(() => undefined), SAVE_PROMPT_COUNTS_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await save();
  };
}
