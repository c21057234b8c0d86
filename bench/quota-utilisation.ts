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

/**
 * Quota utilisation = achieved throughput / total quota, with three projects of 10 requests per
 * second each (a time-scaled 10 per minute), when the limits are declared in the credentials file
 * and when they must be learned from 429s.
 */
export async function quotaUtilisation(items = 450): Promise<Record<string, string | number>> {
  const declared = await scenario(true, items);
  const learned = await scenario(false, items);
  const f = (n: number): number => Number(n.toFixed(3));
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
