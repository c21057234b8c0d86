import { mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEmulatorConfig, startEmulator } from '../src/emulator/index.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../test/helpers/emulated-job.js';

const BIN = fileURLToPath(new URL('../bin/genbatch.js', import.meta.url));
const PROJECTS = ['q1', 'q2', 'q3'];
const RATE = 10; // per project, per second (time-scaled from per minute)

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

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
    const result = await run(['run', job, '--json', '--yes', '--no-cache']);
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

/** A one-call text item; no thinking, so that a 250 ms reply is never cut short. */
const SHARED_STEP = `  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: "Image brief for {{title}}"
    max_output_tokens: 2000
    params: { thinking_budget: 0 }
`;

type Capacity = { at: number; in_flight: number }[];

/** Calls the capacity could have answered by `seconds` (in flight / latency, step by step). */
function callsAvailable(capacity: Capacity, seconds: number, latencyS: number): number {
  let total = 0;
  capacity.forEach((step, i) => {
    const end = Math.min(seconds, capacity[i + 1]?.at ?? Infinity);
    if (end > step.at) total += ((end - step.at) * step.in_flight) / latencyS;
  });
  return total;
}

/**
 * Dynamic shared quota: three Vertex projects with no declared quota share the capacity of
 * gemini-2.5-flash in us-central1 (calls in flight, 250 ms replies); any call beyond it gets the bare 429.
 */
export async function sharedScenario(capacity: Capacity, items: number): Promise<{ utilisation: number; share429: number; seconds: number; requests: number }> {
  const latencyS = 0.25;
  const emulator = await startEmulator(
    parseEmulatorConfig({
      seed: 1,
      latency_ms: { min: 240, max: 260 },
      shared_capacity: { 'us-central1': { 'gemini-2.5-flash': capacity.map((c) => ({ at: `${c.at}s`, in_flight: c.in_flight })) } },
    }),
    { port: 0 },
  );
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-shared-bench-'));
  try {
    writeCredentials(
      join(dir, 'credentials.yaml'),
      emulator.url,
      PROJECTS.map((name) => ({ name })),
    );
    const job = writeJob(dir, { items, steps: SHARED_STEP, limits: '{ concurrency: 16, max_attempts: 5 }' });
    const result = await run(['run', job, '--json', '--yes', '--no-cache']);
    if (result.code !== 0) throw new Error(`run failed (${result.code}): ${result.stderr.slice(-400)}`);
    const { durationMs } = JSON.parse(result.stdout) as { durationMs: number };
    const log = emulator.log();
    const seconds = durationMs / 1000;
    if (process.env.GENBATCH_BENCH_DEBUG) {
      const t0 = log[0]?.at ?? 0;
      const perSecond = new Map<number, [number, number]>();
      for (const r of log) {
        const s = Math.floor((r.at - t0) / 1000);
        const [ok, no] = perSecond.get(s) ?? [0, 0];
        perSecond.set(s, r.status === 200 ? [ok + 1, no] : [ok, no + 1]);
      }
      console.error(
        `calls from ${((log.at(-1)?.at ?? 0) - t0) / 1000} s span; per second ok/429: ${[...perSecond.values()].map(([a, b]) => `${a}/${b}`).join(' ')}`,
      );
    }
    return {
      seconds,
      requests: log.length,
      utilisation: items / callsAvailable(capacity, seconds, latencyS),
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
 * and when they must be learned from 429s.
 */
export async function quotaUtilisation(items = 450): Promise<Record<string, string | number>> {
  const declared = await scenario(true, items);
  const learned = await scenario(false, items);
  const shared = await sharedScenario([{ at: 0, in_flight: 8 }], 400);
  const drop = await sharedScenario(
    [
      { at: 0, in_flight: 8 },
      { at: 5, in_flight: 3 },
      { at: 12, in_flight: 8 },
    ],
    400,
  );
  const f = (n: number): number => Number(n.toFixed(3));
  return {
    shared_scenario: '400 one-call items, 3 Vertex projects with no declared quota, shared capacity 8 in flight (us-central1), 250 ms replies, concurrency 16',
    shared_utilisation: f(shared.utilisation),
    shared_429_share: f(shared.share429),
    shared_seconds: f(shared.seconds),
    shared_requests: shared.requests,
    drop_scenario: 'the same, capacity 8 in flight, 3 from 5 s, 8 again from 12 s',
    drop_utilisation: f(drop.utilisation),
    drop_429_share: f(drop.share429),
    drop_seconds: f(drop.seconds),
    scenario: `${items} one-call items, 3 projects x ${RATE} req/s (sliding 1 s window), concurrency 12, latency 10-30 ms`,
    declared_utilisation: f(declared.utilisation),
    declared_429_share: f(declared.share429),
    declared_seconds: f(declared.seconds),
    learned_utilisation: f(learned.utilisation),
    learned_429_share: f(learned.share429),
    learned_seconds: f(learned.seconds),
  };
}
