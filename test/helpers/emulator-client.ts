import { ApiError, GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { parseEmulatorConfig, startEmulator, type EmulatorConfigInput, type EmulatorStats, type RunningEmulator } from '../../src/emulator/index.js';
import { httpFetch } from '../../src/providers/http-fetch.js';

/**
 * Starts an emulator on a free port and builds real SDK clients pointed at it, exactly as a
 * credentials entry with `endpoint:` would (API key auth, project in the path, SDK retries off,
 * genbatch's HTTP client).
 */
export interface TestEmulator {
  emu: RunningEmulator;
  url: string;
  /** A client for `project` (default: the first project of the helper). */
  client(project?: string): GoogleGenAI;
  stats(): EmulatorStats;
  /** Fetches GET /_emulator/stats over HTTP, as an outside observer would. */
  fetchStats(): Promise<EmulatorStats>;
  close(): Promise<void>;
}

export const TEST_PROJECT = 'test-project';

export function vertexClient(url: string, project: string, location = 'us-central1'): GoogleGenAI {
  return new GoogleGenAI({ vertexai: true, project, location, apiKey: 'test-key', httpOptions: { baseUrl: url, fetch: httpFetch } });
}

export async function startTestEmulator(config: EmulatorConfigInput = {}, defaultProject = TEST_PROJECT): Promise<TestEmulator> {
  const emu = await startEmulator(parseEmulatorConfig({ latency_ms: 0, ...config }));
  return {
    emu,
    url: emu.url,
    client: (project = defaultProject) => vertexClient(emu.url, project),
    stats: () => emu.stats(),
    fetchStats: async () => (await (await fetch(`${emu.url}/_emulator/stats`)).json()) as EmulatorStats,
    close: () => emu.close(),
  };
}

/**
 * One emulator for a test file, started before its tests and closed after them, with its config and
 * counters reset before each test. The object stays valid across tests (it reads the live emulator).
 */
export function useResetEmulator(config: EmulatorConfigInput, defaultProject = TEST_PROJECT): TestEmulator {
  let current: TestEmulator | undefined;
  const live = (): TestEmulator => {
    if (!current) throw new Error('the emulator is started in beforeAll');
    return current;
  };
  beforeAll(async () => {
    current = await startTestEmulator(config, defaultProject);
  });
  beforeEach(async () => {
    live().emu.setConfig(parseEmulatorConfig({ latency_ms: 0, ...config }));
    await fetch(`${live().url}/_emulator/reset`, { method: 'POST' });
  });
  afterAll(() => current?.close());
  return {
    get emu() {
      return live().emu;
    },
    get url() {
      return live().url;
    },
    client: (project) => live().client(project),
    stats: () => live().stats(),
    fetchStats: () => live().fetchStats(),
    close: () => live().close(),
  };
}

/** The SDK's ApiError a call must fail with: its HTTP status and the `error` object of its body. */
export async function apiError(
  promise: Promise<unknown>,
): Promise<{ status: number; body: { code: number; status: string; message: string; details?: unknown[] } }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return { status: (error as ApiError).status, body: JSON.parse((error as ApiError).message).error };
}
