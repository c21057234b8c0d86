import { dirname, resolve } from 'node:path';
import { ConfigError, ConfigErrors } from '../errors/config-error.js';
import { problemsIn } from '../job/config-problem.js';
import { parseDuration } from '../job/duration.js';
import { displayPath, readLocatedFile } from '../job/load-job.js';
import { validKeysAt } from '../job/schema-keys.js';
import { zodProblems } from '../job/zod-problems.js';
import type { CoordinationTarget, Credentials, ProjectAuth, ProjectCredentials, QuotaLimits } from './credentials.js';
import { keyFileProblem } from './key-file.js';
import { PLACEHOLDER_KEY, placeholderKey } from './placeholder-key.js';
import { credentialsFileSchema, type ProjectFile, type QuotaFile } from './schema.js';

export interface LoadCredentialsOptions {
  /** With the in-process emulator no real secret is needed: key files and env vars are not checked. */
  emulated?: boolean;
  env?: NodeJS.ProcessEnv;
  /** The job file (and line) that names this credentials file, for a message when it is missing. */
  namedBy?: { file: string; line?: number };
}

function compileQuota(q: QuotaFile): QuotaLimits {
  const windowMs = q.window === undefined ? undefined : parseDuration(q.window);
  return {
    ...(q.rpm === undefined ? {} : { rpm: q.rpm }),
    ...(q.requests === undefined ? {} : { requests: q.requests }),
    ...(windowMs === undefined ? {} : { windowMs }),
    ...(q.rpd === undefined ? {} : { rpd: q.rpd }),
    ...(q.tpm === undefined ? {} : { tpm: q.tpm }),
    ...(q.concurrency === undefined ? {} : { concurrency: q.concurrency }),
    ...(q.quota === undefined ? {} : { kind: q.quota }),
  };
}

/** `coordination: redis://…`; the password (if any) stays out of the display form. */
function compileCoordination(url: string): CoordinationTarget {
  const parsed = new URL(url);
  return { kind: 'redis', url, display: `${parsed.protocol}//${parsed.hostname}:${parsed.port || '6379'}` };
}

function compileAuth(
  p: ProjectFile,
  dir: string,
  options: LoadCredentialsOptions,
  fail: (key: string, message: string, hint?: string, code?: string) => void,
): ProjectAuth {
  const ways = [p.key_file !== undefined, p.api_key !== undefined, p.api_key_env !== undefined, p.adc === true].filter(Boolean).length;
  if (ways !== 1) {
    fail('', ways === 0 ? 'no way to authenticate' : 'more than one way to authenticate', 'Give exactly one of key_file, api_key, api_key_env or adc: true.');
    return { kind: 'adc' };
  }
  if (p.api === 'gemini' && (p.key_file !== undefined || p.adc === true)) {
    fail(
      p.key_file !== undefined ? 'key_file' : 'adc',
      'a Gemini API entry (api: gemini) authenticates with an API key only',
      'Give api_key_env (the name of the variable holding the Google AI Studio key), or remove api: gemini to use the key file with Vertex AI.',
    );
    return { kind: 'adc' };
  }
  if (p.key_file !== undefined) {
    const keyFile = resolve(dir, p.key_file);
    const problem = options.emulated ? undefined : keyFileProblem(keyFile);
    if (problem) {
      fail(
        'key_file',
        `key_file ${displayPath(keyFile)} ${problem}`,
        'Download a new JSON key for the service account (Google Cloud console → IAM → Service accounts → Keys) and point key_file at it, or rehearse with --emulator.',
      );
    }
    return { kind: 'key_file', keyFile };
  }
  // A placeholder key with no endpoint would be sent to the real Vertex AI and fail there, item by item.
  const refusePlaceholder = (key: string, value: string, where: string): void => {
    if (options.emulated || p.endpoint !== undefined || !placeholderKey(value)) return;
    fail(
      key,
      `${where} is a placeholder, not a Google API key, and the project has no endpoint: the calls would go to the real ${p.api === 'gemini' ? 'Gemini API' : 'Vertex AI'} and be refused`,
      'Add --emulator to rehearse the job against the in-process emulator, or give this project real credentials (api_key_env, key_file or adc: true).',
      // The CLI puts the exact command (with --emulator) in this hint: src/cli/render-error.ts.
      PLACEHOLDER_KEY,
    );
  };
  if (p.api_key !== undefined) {
    refusePlaceholder('api_key', p.api_key, 'api_key');
    return { kind: 'api_key', apiKey: p.api_key, source: 'file' };
  }
  if (p.api_key_env !== undefined) {
    const value = (options.env ?? process.env)[p.api_key_env];
    if ((value === undefined || value === '') && !options.emulated) {
      fail('api_key_env', `environment variable ${p.api_key_env} is not set`, `Export ${p.api_key_env} before running.`);
    } else if (value !== undefined) refusePlaceholder('api_key_env', value, `the value of ${p.api_key_env}`);
    return { kind: 'api_key', apiKey: value ?? '', source: 'env', envName: p.api_key_env };
  }
  return { kind: 'adc' };
}

/** A credentials file that cannot be read is reported at the job file's `credentials:` line too. */
function namedByJob(error: unknown, file: string, namedBy: LoadCredentialsOptions['namedBy']): unknown {
  if (!namedBy || !(error instanceof ConfigError) || error.code !== 'FILE_UNREADABLE') return error;
  const where = namedBy.line === undefined ? displayPath(namedBy.file) : `${displayPath(namedBy.file)}:${namedBy.line}`;
  return new ConfigError(`${where}: credentials: ${error.message}`, {
    file: namedBy.file,
    ...(namedBy.line === undefined ? {} : { line: namedBy.line }),
    keyPath: 'credentials',
    code: error.code,
    hint: `The path ${displayPath(file)} is resolved from the folder of the job file. Fix credentials: in the job file, or create the file (see docs/credentials.md).`,
  });
}

/** Loads and checks a credentials file. Every problem names the file, line and key; exit 2. */
export async function loadCredentials(file: string, options: LoadCredentialsOptions = {}): Promise<Credentials> {
  const shown = displayPath(file);
  const located = await readLocatedFile(file, 'Credentials file').catch((error: unknown) => {
    throw namedByJob(error, file, options.namedBy);
  });
  const problem = problemsIn({ file, shown, lineOf: (path) => (typeof path === 'string' ? undefined : located.lineOf(path)) });
  const result = credentialsFileSchema.safeParse(located.value);
  // Never echo a value from this file: it may be a secret.
  if (!result.success)
    throw new ConfigErrors(zodProblems(result.error, { problem, validKeys: (path) => validKeysAt(credentialsFileSchema, path), secret: true }));
  const dir = dirname(resolve(file));
  const problems: ConfigError[] = [];
  const names = new Set<string>();
  const projects: ProjectCredentials[] = result.data.projects.map((p, index) => {
    const fail = (key: string, message: string, hint?: string, code?: string): void => {
      problems.push(problem(key ? ['projects', index, key] : ['projects', index], `project "${p.name}": ${message}`, hint, code ? { code } : {}));
    };
    if (names.has(p.name)) fail('name', `the name "${p.name}" is used twice`);
    names.add(p.name);
    if (p.api === 'vertex' && p.project === undefined)
      fail('project', 'no Google Cloud project id', 'Add project: YOUR-PROJECT-ID, or api: gemini if this entry is a Gemini API (AI Studio) key.');
    if (p.api === 'gemini' && p.staging_bucket !== undefined)
      fail('staging_bucket', 'a Gemini API key cannot run Vertex AI batch prediction', 'Move staging_bucket to a Vertex AI project entry.');
    const quotas: Record<string, QuotaLimits> = {};
    for (const [model, q] of Object.entries(p.quotas)) quotas[model] = compileQuota(q);
    return {
      name: p.name,
      api: p.api,
      project: p.project ?? p.name,
      location: p.location,
      auth: compileAuth(p, dir, options, fail),
      quotas,
      ...(p.quota === undefined ? {} : { quotaKind: p.quota }),
      pool: p.pool,
      enabled: p.enabled,
      ...(p.staging_bucket === undefined ? {} : { stagingBucket: p.staging_bucket }),
      ...(p.endpoint === undefined ? {} : { endpoint: p.endpoint }),
    };
  });
  if (problems.length > 0) throw new ConfigErrors(problems);
  return {
    file: resolve(file),
    strategy: result.data.strategy,
    projects,
    ...(result.data.emulator === undefined ? {} : { emulator: result.data.emulator }),
    ...(result.data.coordination === undefined ? {} : { coordination: compileCoordination(result.data.coordination) }),
    ...(result.data.budget === undefined ? {} : { budget: { dailyUsd: result.data.budget.daily_usd, alertAt: result.data.budget.alert_at } }),
  };
}
