import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError, ConfigErrors } from '../errors/config-error.js';
import { problemsIn, type KeyPath } from '../job/config-problem.js';
import { parseDuration } from '../job/duration.js';
import { DocumentSyntaxError, parseLocated, type LocatedDocument } from '../job/source-locator.js';
import { zodProblems } from '../job/zod-problems.js';
import { finishReasonRates } from './fake-finish-reason.js';

/**
 * The emulator's config file (YAML or JSON), compiled once into `EmulatorConfig`:
 * durations become milliseconds, latencies become ranges, defaults are filled in here and nowhere else.
 */

const DURATION_HINT = 'expected a duration like 500ms, 10s, 15m or 1h';

const duration = z.union([z.number(), z.string()], { error: DURATION_HINT }).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `${DURATION_HINT}, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});

const latency = z
  .union(
    [
      z
        .number()
        .nonnegative()
        .transform((ms) => ({ min: ms, max: ms })),
      z.strictObject({ min: z.number().nonnegative(), max: z.number().nonnegative() }),
    ],
    { error: 'expected milliseconds (40) or a range ({ min: 20, max: 200 })' },
  )
  .refine((range) => range.max >= range.min, 'latency_ms.max must not be below latency_ms.min');

const rateHint = (issue: { input?: unknown }): string => `expected a share between 0 and 1 (0.05 = 5% of calls), got ${JSON.stringify(issue.input)}`;
const rate = z.number({ error: rateHint }).min(0, { error: rateHint }).max(1, { error: rateHint });
const count = z.number().int().positive();

const quotaShape = {
  /** Requests per minute (a 60 s sliding window). */
  rpm: count.optional(),
  /** `requests` per `window`: any window, for fast tests. */
  requests: count.optional(),
  window: duration.optional(),
  /** Requests per day. */
  rpd: count.optional(),
  /** After this many accepted requests, every call is refused with a per-day quota error. */
  exhaust_after: z.number().int().nonnegative().optional(),
};

function requestsNeedWindow(limits: { requests?: number | undefined; window?: number | undefined }, ctx: z.RefinementCtx): void {
  if ((limits.requests === undefined) !== (limits.window === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [limits.requests === undefined ? 'requests' : 'window'],
      message: '`requests` and `window` go together (e.g. requests: 10, window: 1s)',
    });
  }
}

const modelQuota = z.strictObject(quotaShape).superRefine(requestsNeedWindow);

const project = z
  .strictObject({
    ...quotaShape,
    deny: z.boolean().default(false),
    fail_rate_503: rate.optional(),
    latency_ms: latency.optional(),
    models: z.record(z.string(), modelQuota).default({}),
    /**
     * Models this project cannot use: every call answers 404 NOT_FOUND, as Vertex and the Gemini API
     * answer a model that is not enabled for a project (to rehearse fallbacks). Not billed.
     */
    unavailable_models: z.array(z.string().min(1)).default([]),
    /** Gemini calls are served by provisioned throughput: usageMetadata.trafficType PROVISIONED_THROUGHPUT (else ON_DEMAND). */
    provisioned_throughput: z.boolean().default(false),
  })
  .superRefine(requestsNeedWindow);

/** A point in time from the start of a capacity schedule: like `duration`, but 0s is allowed. */
const offset = z.union([z.number(), z.string()], { error: DURATION_HINT }).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `${DURATION_HINT}, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});

const CAPACITY_HINT = 'expected { in_flight: N }, { rps: N } or a list of steps like [{ at: 0s, in_flight: 8 }, { at: 20s, in_flight: 3 }]';
/** 0: no capacity left at all (every call refused), as a region under heavy load can be for a while. */
const capacityCalls = z.number().int().nonnegative();
const capacityLimit = z.union([z.strictObject({ in_flight: capacityCalls }), z.strictObject({ rps: capacityCalls })], { error: CAPACITY_HINT });
const capacityStep = z.union([z.strictObject({ at: offset, in_flight: capacityCalls }), z.strictObject({ at: offset, rps: capacityCalls })], {
  error: CAPACITY_HINT,
});
/**
 * Shared capacity of one model in one location (dynamic shared quota): calls in flight or requests
 * per second, or a schedule of them over time (steps in the order of `at`).
 */
const capacity = z.union([capacityLimit, z.array(capacityStep).min(1)], { error: CAPACITY_HINT }).superRefine((spec, ctx) => {
  if (!Array.isArray(spec)) return;
  spec.forEach((step, i) => {
    const previous = spec[i - 1];
    if (previous && step.at < previous.at) ctx.addIssue({ code: 'custom', path: [i, 'at'], message: 'steps go in the order of `at`' });
  });
});

const tokenDistribution = z.strictObject({ mean: z.number().nonnegative(), sd: z.number().nonnegative().default(0) });

const modelBehaviour = z.strictObject({
  /** Reply length in tokens. */
  output_tokens: tokenDistribution.optional(),
  /** Thinking tokens reported in usageMetadata.thoughtsTokenCount (none unless set). */
  thoughts_tokens: tokenDistribution.optional(),
  latency_ms: latency.optional(),
  /** Share of this model's text and JSON replies that come back empty with finishReason STOP. */
  empty_rate: rate.optional(),
  /** Share of this model's JSON replies that break their response schema. */
  bad_json_rate: rate.optional(),
  /** Share of this model's images whose base64 data is broken (cut off halfway). */
  bad_image_rate: rate.optional(),
  /** Shares of this model's text and JSON replies that end with these finish reasons (replaces the global ones). */
  finish_reasons: finishReasonRates.optional(),
});

/**
 * Batch prediction jobs (`batchPredictionJobs`): how long they wait and run, and how they fail.
 * A job is QUEUED for the first half of `queue_ms` and PENDING for the second, then RUNNING for
 * `run_ms` (its lines complete evenly over that time), then SUCCEEDED or PARTIALLY_SUCCEEDED.
 */
const batchShape = {
  queue_ms: z.number().nonnegative().default(500),
  run_ms: z.number().nonnegative().default(2000),
  /** How long a cancelled job stays CANCELLING before it is CANCELLED. */
  cancel_ms: z.number().nonnegative().default(200),
  /** Requests per job (Vertex: 200,000); a bigger input is refused at create. */
  max_requests: count.default(200_000),
  /** Bytes per input file (Vertex: 1 GB); a bigger file is refused at create. */
  max_input_bytes: count.default(1_000_000_000),
  /** Share of lines answered with a per-line `status` error instead of a response, drawn per ask. */
  line_fail_rate: rate.default(0),
  /** A job not finished this long after it was created ends EXPIRED (unset: never). */
  expire_after_ms: z.number().positive().optional(),
  /**
   * Whether an output line keeps the input line's other top-level fields (such as a `key`). Google
   * documents only `status`, `processed_time`, `request` and `response`, so by default it does not.
   */
  echo_key: z.boolean().default(false),
  /** Whether output lines come in another order than the input's (seeded, reproducible): Vertex keeps no order. */
  shuffle: z.boolean().default(true),
};
const batch = z.strictObject(batchShape);

/**
 * Context caching (`cachedContents` and implicit caching). Implicit caching is on by default for
 * Gemini 2.5 models, as on Vertex; turn it off for tests that need exact, uncached counts (it never
 * changes a reply, only usageMetadata.cachedContentTokenCount and the cached token stats).
 */
const cachingShape = {
  /** Implicit caching of Gemini 2.5 requests that start with a prefix seen recently. */
  implicit: z.boolean().default(true),
  /** The shortest prefix implicit caching serves (Vertex: 2,048 tokens for Gemini 2.x). */
  implicit_min_tokens: count.default(2048),
  /** How long a prefix stays cached after it was last sent (Google documents none: 5 minutes here). */
  implicit_window: duration.default(5 * 60 * 1000),
  /** The smallest explicit cache a create accepts (Vertex: 2,048 tokens for Gemini 2.x); smaller: 400 INVALID_ARGUMENT. */
  explicit_min_tokens: count.default(2048),
};
const caching = z.strictObject(cachingShape);

const emulatorConfigSchema = z.strictObject({
  seed: z.number().int().default(42),
  latency_ms: latency.default({ min: 0, max: 0 }),
  fail_rate_503: rate.default(0),
  /**
   * Share of text and JSON replies that come back empty with finishReason STOP (as Vertex
   * occasionally does), to rehearse retries of unusable replies. Drawn per ask, so a retry can succeed.
   */
  empty_rate: rate.default(0),
  /**
   * Share of JSON replies (response_mime_type application/json) that break their response schema:
   * a required property left out, or a value of the wrong type; without a schema, JSON cut short.
   * Drawn per ask, like empty_rate. Otherwise a JSON reply always satisfies its schema.
   */
  bad_json_rate: rate.default(0),
  /**
   * Share of billed model calls answered 200 with a JSON body cut off halfway (the HTTP exchange
   * itself complete, its Content-Length the cut length), as a proxy or a broken connection can leave
   * it: the caller cannot read the reply or its usage. Counted and billed as the whole reply.
   */
  cut_body_rate: rate.default(0),
  /**
   * Share of images (Gemini image models and Imagen) whose base64 data is broken: cut off halfway,
   * so the bytes are not a whole image. Billed as the image. Drawn per ask, like empty_rate.
   */
  bad_image_rate: rate.default(0),
  /**
   * Shares of text and JSON replies that end with these finish reasons instead of their own
   * (`{ RECITATION: 0.05, OTHER: 0.02 }`), drawn per ask: see fake-finish-reason.ts.
   */
  finish_reasons: finishReasonRates.optional(),
  retry_after: z.boolean().default(true),
  /** How long a Veo operation runs before it is done. */
  video_ms: z.number().nonnegative().default(1500),
  /** Prompts containing any of these (case-insensitive) are refused on safety grounds. */
  blocked_terms: z.array(z.string().min(1)).default(['[unsafe]']),
  projects: z.record(z.string(), project).default({}),
  /**
   * Gemini API keys (`x-goog-api-key` or `?key=`) and the project each one counts under. When set,
   * any other key is refused (400 API_KEY_INVALID); when absent, every key is accepted and counted
   * under `aistudio-` and the first 8 hex digits of its SHA-256 (the key itself is never shown).
   */
  api_keys: z.record(z.string().min(1), z.string().min(1)).optional(),
  models: z.record(z.string(), modelBehaviour).default({}),
  batch: batch.prefault({}),
  caching: caching.prefault({}),
  /**
   * `{ LOCATION: { MODEL: capacity } }`, `*` for any location or model: the capacity every project
   * calling that model in that location shares; above it, the bare 429 of dynamic shared quota.
   * Vertex Gemini models a project declares no quota for share DEFAULT_SHARED_IN_FLIGHT when unset.
   */
  shared_capacity: z.record(z.string(), z.record(z.string(), capacity)).default({}),
});

export type EmulatorConfig = z.output<typeof emulatorConfigSchema>;
/** The config as written in a file or built in code, before defaults and unit conversion. */
export type EmulatorConfigInput = z.input<typeof emulatorConfigSchema>;
export type ProjectConfig = z.output<typeof project>;
export type QuotaLimits = z.output<typeof modelQuota>;
export type ModelBehaviour = z.output<typeof modelBehaviour>;
export type BatchConfig = z.output<typeof batch>;
export type CachingConfig = z.output<typeof caching>;
export type SharedCapacityConfig = z.output<typeof capacity>;
export type LatencyRange = { min: number; max: number };

const KNOWN_KEYS: Record<string, readonly string[]> = {
  root: Object.keys(emulatorConfigSchema.shape),
  project: [...Object.keys(quotaShape), 'deny', 'fail_rate_503', 'latency_ms', 'models', 'unavailable_models', 'provisioned_throughput'],
  projectModel: Object.keys(quotaShape),
  model: Object.keys(modelBehaviour.shape),
  batch: Object.keys(batchShape),
  caching: Object.keys(cachingShape),
};

/** Which object a key path points into, to suggest the nearest valid key. */
function knownKeysAt(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return KNOWN_KEYS.root ?? [];
  if (path[0] === 'projects' && path.length === 2) return KNOWN_KEYS.project ?? [];
  if (path[0] === 'projects' && path[2] === 'models' && path.length === 4) return KNOWN_KEYS.projectModel ?? [];
  if (path[0] === 'models' && path.length === 2) return KNOWN_KEYS.model ?? [];
  if (path[0] === 'batch' && path.length === 1) return KNOWN_KEYS.batch ?? [];
  if (path[0] === 'caching' && path.length === 1) return KNOWN_KEYS.caching ?? [];
  return [];
}

function redactedKey(key: string): string {
  return key.length > 12 ? `<key …${key.slice(-4)}>` : '<key>';
}

/** Key paths as shown in errors; an API key under `api_keys` is a secret, so only its last 4 characters appear. */
function shownPath(path: readonly PropertyKey[]): PropertyKey[] {
  return path.map((part, i) => (path[0] === 'api_keys' && i === 1 ? redactedKey(String(part)) : part));
}

/** Validates and normalises an emulator config; every problem is reported with its key path. */
export function parseEmulatorConfig(raw: unknown, file?: string, lineOf?: (path: readonly PropertyKey[]) => number | undefined): EmulatorConfig {
  const result = emulatorConfigSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problem = problemsIn({
    file: file ?? 'emulator config',
    ...(lineOf === undefined ? {} : { lineOf: (path: KeyPath) => (typeof path === 'string' ? undefined : lineOf(path)) }),
  });
  const problems = zodProblems(result.error, { problem, validKeys: knownKeysAt, shownPath });
  if (problems.length === 1 && problems[0]) throw problems[0];
  throw new ConfigErrors(problems);
}

/** Reads an emulator config file: YAML, or JSON (which YAML also parses). */
export async function loadEmulatorConfig(file: string): Promise<EmulatorConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read the emulator config ${file}: ${(error as Error).message}.`, { file, cause: error });
  }
  let located: LocatedDocument;
  try {
    located = parseLocated(text);
  } catch (error) {
    if (!(error instanceof DocumentSyntaxError)) throw error;
    throw new ConfigError(`${error.line === undefined ? file : `${file}:${error.line}`}: not valid YAML or JSON: ${error.message}`, {
      file,
      ...(error.line === undefined ? {} : { line: error.line }),
      cause: error,
    });
  }
  return parseEmulatorConfig(located.value, file, (path) => located.lineOf(path));
}
