import { mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEmulatorConfig, startEmulator, type EmulatorConfigInput } from '../src/emulator/index.js';
import { BRIEF_STEP, ONE_CALL_STEP, writeCredentials, writeJob } from '../test/helpers/emulated-job.js';
import { redisServerInstalled, startRedis } from '../test/helpers/redis-server.js';
import { writeSharedCredentials, writeSharedJob } from '../test/helpers/shared-jobs.js';

const BIN = fileURLToPath(new URL('../bin/genbatch.js', import.meta.url));
const PROJECTS = ['q1', 'q2', 'q3'];
const RATE = 10; // per project, per second (time-scaled from per minute)
const MODEL = 'gemini-2.5-flash';

type Figures = Record<string, string | number>;

/**
 * Each run gets its own shared-state folder: cooldowns and learned limits a run leaves behind under
 * the same project names must not reach the next scenario (nor the user's own state).
 */
function run(args: string[], sharedDir: string): Promise<{ code: number | null; stdout: string; stderr: string; endedAt: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GENBATCH_SHARED_DIR: sharedDir } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr, endedAt: Date.now() }));
  });
}

const f = (n: number): number => Number(n.toFixed(3));

async function scenario(declared: boolean, items: number): Promise<{ utilisation: number; share429: number; seconds: number; requests: number }> {
  const emulator = await startEmulator(
    parseEmulatorConfig({
      seed: 1,
      latency_ms: { min: 10, max: 30 },
      projects: Object.fromEntries(PROJECTS.map((p) => [p, { requests: RATE, window: '1s' }])),
    }),
    { port: 0 },
  );
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-quota-bench-'));
  try {
    writeCredentials(
      join(dir, 'credentials.yaml'),
      emulator.url,
      PROJECTS.map((name) => (declared ? { name, quotas: `{ default: { requests: ${RATE}, window: 1s } }` } : { name })),
    );
    const job = writeJob(dir, { items, steps: BRIEF_STEP, limits: '{ concurrency: 12, max_attempts: 5 }' });
    // --no-cache: both scenarios ask the same prompts; the second must make its calls, not read the first's answers.
    const result = await run(['run', job, '--json', '--yes', '--no-cache'], join(dir, 'shared'));
    if (result.code !== 0) throw new Error(`run failed (${result.code}): ${result.stderr.slice(-400)}`);
    const { durationMs } = JSON.parse(result.stdout) as { durationMs: number };
    const log = emulator.log();
    const seconds = durationMs / 1000;
    return {
      seconds,
      requests: log.length,
      utilisation: items / seconds / (RATE * PROJECTS.length),
      share429: log.filter((r) => r.status === 429).length / log.length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await emulator.close();
  }
}

/**
 * Quota utilisation = achieved throughput / total quota, with three projects of 10 requests per
 * second each (a time-scaled 10 per minute), when the limits are declared in the credentials file
 * (the seed's source scenario) and when they must be learned from 429s.
 */
export async function fixedQuotaUtilisation(items = 450): Promise<Figures> {
  const declared = await scenario(true, items);
  const learned = await scenario(false, items);
  return {
    scenario: `${items} one-call items, 3 projects x ${RATE} req/s (sliding 1 s window), concurrency 12, latency 10-30 ms`,
    declared_utilisation: f(declared.utilisation),
    declared_429_share: f(declared.share429),
    declared_seconds: f(declared.seconds),
    learned_utilisation: f(learned.utilisation),
    learned_429_share: f(learned.share429),
    learned_seconds: f(learned.seconds),
  };
}

/* ---------- Shared capacity (dynamic shared quota): one pool per model and location, any project. ---------- */

const REPLY_MS = 250;

type Step = { at: number; in_flight: number };

/** Calls per second the capacity allows over [0, ms): the integral of in_flight / reply time. */
function capacityCalls(steps: Step[], ms: number): number {
  let calls = 0;
  steps.forEach((step, i) => {
    const end = Math.min(ms, steps[i + 1]?.at ?? Infinity);
    if (end > step.at) calls += ((end - step.at) / REPLY_MS) * step.in_flight;
  });
  return calls;
}

interface SharedRun {
  utilisation: number;
  share429: number;
  seconds: number;
  idealSeconds: number;
  requests: number;
  /** Each run's outcome and steps completed, e.g. `done 400`, `failed 397` (a run may end short). */
  outcomes: string;
}

/**
 * Jobs of `items` one-call items in all (split evenly between `jobs` runs started together on one
 * host, or on one Redis when `redis`), three projects with no declared limits, against a shared
 * in-flight capacity (a schedule, from the first call) with 250 ms replies. Utilisation = items done
 * over the capacity the schedule offered from the first run's start to the last run's end.
 */
async function sharedScenario(options: { steps: Step[]; items: number; concurrency: number; jobs?: number; redis?: boolean }): Promise<SharedRun> {
  const { steps, items, concurrency } = options;
  const jobs = options.jobs ?? 1;
  const capacity: NonNullable<EmulatorConfigInput['shared_capacity']>[string][string] =
    steps.length === 1 ? { in_flight: steps[0]?.in_flight ?? 1 } : steps.map((s) => ({ at: s.at, in_flight: s.in_flight }));
  const emulator = await startEmulator(parseEmulatorConfig({ seed: 1, latency_ms: REPLY_MS, shared_capacity: { 'us-central1': { [MODEL]: capacity } } }), {
    port: 0,
  });
  const redis = options.redis ? await startRedis() : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-shared-bench-'));
  try {
    writeSharedCredentials(dir, emulator.url, { projects: PROJECTS, ...(redis ? { top: `coordination: ${redis.url}\n` } : {}) });
    const files = Array.from({ length: jobs }, (_, i) =>
      writeSharedJob(dir, `job${i + 1}`, {
        items: Math.round(items / jobs),
        limits: `{ concurrency: ${concurrency}, max_attempts: 10 }`,
        steps: ONE_CALL_STEP.replace('{{title}}', `{{title}} (job${i + 1})`),
      }),
    );
    const results = await Promise.all(files.map((file) => run(['run', file, '--json', '--yes', '--no-cache'], join(dir, 'shared'))));
    let start = Infinity;
    let end = 0;
    const outcomes: string[] = [];
    for (const result of results) {
      let summary: { durationMs?: number; outcome?: string; completed?: Record<string, number> } = {};
      try {
        summary = JSON.parse(result.stdout) as typeof summary;
      } catch {
        // no summary: reported below
      }
      const { durationMs } = summary;
      if (durationMs === undefined) throw new Error(`run failed (${result.code}): ${result.stderr.slice(-400)}`);
      outcomes.push(`${summary.outcome ?? `exit ${result.code}`} ${Object.values(summary.completed ?? {}).reduce((a, b) => a + b, 0)}`);
      start = Math.min(start, result.endedAt - durationMs);
      end = Math.max(end, result.endedAt);
    }
    const ms = end - start;
    const log = emulator.log();
    const ok = log.filter((r) => r.status === 200).length;
    // The time the same calls would take at full capacity.
    let idealMs = 0;
    while (capacityCalls(steps, idealMs) < items) idealMs += 10;
    return {
      utilisation: ok / capacityCalls(steps, ms),
      share429: log.filter((r) => r.status === 429).length / log.length,
      seconds: ms / 1000,
      idealSeconds: idealMs / 1000,
      requests: log.length,
      outcomes: outcomes.join(', '),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await redis?.stop();
    await emulator.close();
  }
}

function sharedFigures(prefix: string, r: SharedRun): Figures {
  return {
    [`${prefix}_utilisation`]: f(r.utilisation),
    [`${prefix}_429_share`]: f(r.share429),
    [`${prefix}_seconds`]: f(r.seconds),
    [`${prefix}_ideal_seconds`]: f(r.idealSeconds),
    [`${prefix}_calls`]: r.requests,
    [`${prefix}_runs`]: r.outcomes,
  };
}

const STEADY: Step[] = [{ at: 0, in_flight: 8 }];
/** 8 in flight, 3 from 5 s, 8 again from 10 s (from the first call). */
const DROP: Step[] = [
  { at: 0, in_flight: 8 },
  { at: 5000, in_flight: 3 },
  { at: 10_000, in_flight: 8 },
];

/** The issue's scenario: shared in-flight cap 8, 250 ms replies, 3 projects, 400 items, concurrency 16. */
export async function sharedSteady(items = 400): Promise<Figures> {
  const r = await sharedScenario({ steps: STEADY, items, concurrency: 16 });
  return {
    scenario: `${items} items, 3 projects, no declared limits, shared capacity 8 in flight, ${REPLY_MS} ms replies, concurrency 16`,
    ...sharedFigures('shared', r),
  };
}

/** Capacity 8, then 3 from 5 s, then 8 from 10 s: utilisation of the capacity available over the run. */
export async function sharedDrop(items = 400): Promise<Figures> {
  const r = await sharedScenario({ steps: DROP, items, concurrency: 16 });
  return { scenario: `${items} items, shared capacity 8 -> 3 at 5 s -> 8 at 10 s, ${REPLY_MS} ms replies, concurrency 16`, ...sharedFigures('drop', r) };
}

/** Two runs of 200 items each started together on one host, then the same coordinated through Redis. */
export async function sharedTwoJobs(items = 400): Promise<Figures> {
  const host = await sharedScenario({ steps: STEADY, items, concurrency: 16, jobs: 2 });
  const figures: Figures = {
    scenario: `2 runs x ${items / 2} items started together, shared capacity 8 in flight, ${REPLY_MS} ms replies, concurrency 16 each`,
    ...sharedFigures('one_host', host),
  };
  if (!redisServerInstalled) return { ...figures, redis: 'skipped: redis-server not installed' };
  const redis = await sharedScenario({ steps: STEADY, items, concurrency: 16, jobs: 2, redis: true });
  return { ...figures, ...sharedFigures('redis', redis) };
}
