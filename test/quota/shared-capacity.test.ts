import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { ONE_CALL_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('dynamic shared quota (Vertex Gemini, no declared quota)', () => {
  it('three projects share 8 calls in flight: the run keeps the capacity busy, few 429s, no project cools down, no attempt used', async () => {
    const items = 200;
    emulator = await startEmulator(
      parseEmulatorConfig({ seed: 24, latency_ms: { min: 240, max: 260 }, shared_capacity: { 'us-central1': { 'gemini-2.5-flash': { in_flight: 8 } } } }),
      { port: 0 },
    );
    const dir = tempDir();
    writeCredentials(
      join(dir, 'credentials.yaml'),
      emulator.url,
      ['s1', 's2', 's3'].map((name) => ({ name })),
    );
    const job = writeJob(dir, { items, steps: ONE_CALL_STEP, limits: '{ concurrency: 16, max_attempts: 2 }' });
    const run = await runCli(['run', job, '--json', '--yes', '--no-cache']);
    expect(run.stderr).not.toMatch(/cools down/);
    expect(run.code).toBe(0);
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: items });

    const log = emulator.log();
    const refused = log.filter((r) => r.status === 429).length;
    const share429 = refused / log.length;
    const seconds = (JSON.parse(run.stdout) as { durationMs: number }).durationMs / 1000;
    // 8 in flight / 250 ms = 32 calls per second.
    const utilisation = items / seconds / 32;
    console.log(
      `shared capacity: ${seconds.toFixed(2)} s for ${items} items, ${(utilisation * 100).toFixed(1)}% of capacity, ${refused} 429s of ${log.length} calls`,
    );
    expect(share429).toBeLessThanOrEqual(0.1);
    // Generous for a loaded CI machine; the bench (npm run bench quota-utilisation) measures the real figure.
    expect(utilisation).toBeGreaterThanOrEqual(0.6);
    // Every project took calls: a 429 benched none of them.
    for (const project of ['s1', 's2', 's3']) expect(log.filter((r) => r.project === project && r.status === 200).length).toBeGreaterThan(items / 6);

    // A shared-capacity 429 uses no attempt: every item is done on its first attempt, even those refused first.
    const db = new Database(join(dir, '.genbatch', 'quota-job.db'), { readonly: true });
    const ledger429 = (db.prepare('SELECT count(*) AS n FROM ledger WHERE http_status = 429').get() as { n: number }).n;
    const attempts = (db.prepare('SELECT max(attempts) AS n FROM item_steps').get() as { n: number }).n;
    db.close();
    expect(ledger429).toBe(refused);
    expect(attempts).toBe(1);
  });

  it('location: global works through the SDK next to a regional entry; capacity is kept per location, peaks never above it', async () => {
    const items = 60;
    emulator = await startEmulator(
      parseEmulatorConfig({
        seed: 7,
        latency_ms: { min: 90, max: 110 },
        shared_capacity: { global: { 'gemini-2.5-flash': { in_flight: 3 } }, 'us-central1': { 'gemini-2.5-flash': { in_flight: 2 } } },
      }),
      { port: 0 },
    );
    const dir = tempDir();
    writeFileSync(
      join(dir, 'credentials.yaml'),
      `projects:
  - { name: g, project: proj-g, location: global, api_key: secret-key-g, endpoint: "${emulator.url}" }
  - { name: r, project: proj-r, location: us-central1, api_key: secret-key-r, endpoint: "${emulator.url}" }
`,
    );
    const job = writeJob(dir, { items, steps: ONE_CALL_STEP, limits: '{ concurrency: 12, max_attempts: 2 }' });
    const run = await runCli(['run', job, '--json', '--yes', '--no-cache']);
    expect(run.stderr).not.toMatch(/cools down/);
    expect(run.code).toBe(0);
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: items });
    const capacity = emulator.stats().shared_capacity ?? {};
    expect(capacity.global?.['gemini-2.5-flash']?.admitted).toBeGreaterThan(0);
    expect(capacity['us-central1']?.['gemini-2.5-flash']?.admitted).toBeGreaterThan(0);
    const log = emulator.log();
    expect(log.filter((r) => r.status === 429).length / log.length).toBeLessThanOrEqual(0.25);
  });

  it('no capacity left: the run stalls naming the model and location (more projects would not help), status shows the window; with capacity back, resume finishes', async () => {
    const items = 6;
    const noCapacity = parseEmulatorConfig({ seed: 3, latency_ms: 50, shared_capacity: { 'us-central1': { 'gemini-2.5-flash': { in_flight: 0 } } } });
    emulator = await startEmulator(noCapacity, { port: 0 });
    const port = Number(new URL(emulator.url).port);
    const dir = tempDir();
    const env = { GENBATCH_SHARED_DIR: join(dir, 'shared') };
    writeCredentials(
      join(dir, 'credentials.yaml'),
      emulator.url,
      ['s1', 's2'].map((name) => ({ name })),
    );
    const job = writeJob(dir, { items, steps: ONE_CALL_STEP, limits: '{ concurrency: 4, max_attempts: 2, max_stall: 3s }' });
    const stalled = await runCli(['run', job, '--yes', '--plain', '--no-cache'], { env });
    expect(stalled.code).toBe(75);
    expect(stalled.stderr).toContain('Stalled on shared capacity');
    expect(stalled.stderr).toContain('waiting on shared capacity of gemini-2.5-flash in us-central1: every call refused (429)');
    expect(stalled.stderr).toMatch(/more projects do not add any.*location: global/);
    expect(stalled.stderr).toMatch(
      /retry: item "\S+" step brief: shared capacity of gemini-2\.5-flash in us-central1 is full \(429, refusal 1 in a row, no attempt used\)/,
    );
    expect(stalled.stderr).not.toMatch(/cools down/);
    expect(emulator.log().every((r) => r.status === 429)).toBe(true);

    const status = await runCli(['status', job, '--json'], { env });
    const windows = (
      JSON.parse(status.stdout) as { capacity_windows: { model: string; location: string; window: number; share_429: number; refusals: number }[] }
    ).capacity_windows;
    expect(windows).toEqual([expect.objectContaining({ model: 'gemini-2.5-flash', location: 'us-central1', window: 1, share_429: 1 })]);
    expect(windows[0]?.refusals).toBe(emulator.log().length);
    const text = await runCli(['status', job], { env });
    expect(text.stdout).toContain('gemini-2.5-flash in us-central1: window 1 call(s), 0 in flight, 100.0% of recent calls refused (429)');

    // The capacity is back: a fresh emulator (same address) with 4 calls in flight.
    await emulator.close();
    emulator = await startEmulator(
      parseEmulatorConfig({ seed: 3, latency_ms: 50, shared_capacity: { 'us-central1': { 'gemini-2.5-flash': { in_flight: 4 } } } }),
      { port },
    );
    const resumed = await runCli(['resume', job, '--yes', '--plain'], { env });
    expect(resumed.code).toBe(0);
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: items });
    const after = JSON.parse((await runCli(['status', job, '--json'], { env })).stdout) as { capacity_windows: { share_429: number; successes: number }[] };
    expect(after.capacity_windows[0]?.successes).toBe(items);
    expect(after.capacity_windows[0]?.share_429).toBeLessThan(1);
  });
});
