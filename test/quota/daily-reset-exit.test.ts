import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { nextDailyReset } from '../../src/resilience/quota-day.js';
import { billedCalls } from '../helpers/billed.js';
import { runCli } from '../helpers/cli.js';
import { ONE_CALL_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const MINUTE = 60_000;

/**
 * Every project out of its per-day quota, with the reset hours away (issue 27 point 9): the run exits
 * 75 at once with the reset time, instead of waiting out limits.max_stall (30 minutes here, as in
 * jobs/nightly-digest.yaml) to say the same.
 */
describe('out of the daily quota', () => {
  // The daily reset is midnight Pacific time; max_stall must be shorter than the time to it (at most 30m).
  const toReset = nextDailyReset(Date.now()) - Date.now();
  const stallMinutes = Math.min(30, Math.floor(toReset / MINUTE) - 2);

  it.skipIf(stallMinutes < 1)('the emulator per-day quota is spent: exit 75 within seconds, naming the reset time', { timeout: 60_000 }, async () => {
    // The quota is the emulator's (Vertex's): the credentials declare none, the 429s say "per day".
    emulator = await startEmulator(parseEmulatorConfig({ seed: 9, latency_ms: 5, projects: { p1: { rpd: 3 }, p2: { rpd: 2 } } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1' }, { name: 'p2' }]);
    const job = writeJob(dir, { items: 12, steps: ONE_CALL_STEP, limits: `{ concurrency: 2, max_attempts: 3, max_stall: ${stallMinutes}m }` });
    const started = performance.now();
    const run = await runCli(['run', job, '--yes', '--plain', '--no-cache'], { env: { GENBATCH_SHARED_DIR: join(dir, 'shared') } });
    const seconds = (performance.now() - started) / 1000;
    expect(run.code, run.stderr.slice(-1200)).toBe(75);
    expect(seconds).toBeLessThan(20);
    const reset = new Date(nextDailyReset(Date.now())).toISOString();
    expect(run.stderr).toMatch(/Stalled on quota: no pending work could make progress for [5-9]s\. Every project with work left/);
    expect(run.stderr).toContain(`Every project with work left is out of its per-day quota until ${reset}`);
    expect(run.stderr).toMatch(/later than limits\.max_stall: stopped now instead of waiting\. Waiting on:/);
    expect(run.stderr).toContain(`expected back at ${reset}`);
    expect(run.stderr).toContain(`hint: Resume after ${reset}`);
    expect(run.stderr).toMatch(/ended: stalled \(exit 75\)/);
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: 5, pending: 7 });
    expect(billedCalls(emulator)).toBe(5);
  });

  it('one project out for the day and another only cooling down: the run waits (the cooling one comes back)', { timeout: 60_000 }, async () => {
    // p2 is paced to a request a second, p1 is out after 2 calls: the run is slowed, not stopped.
    emulator = await startEmulator(parseEmulatorConfig({ seed: 9, latency_ms: 5, projects: { p1: { rpd: 2 }, p2: { requests: 1, window: '1s' } } }), {
      port: 0,
    });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1' }, { name: 'p2' }]);
    const job = writeJob(dir, { items: 6, steps: ONE_CALL_STEP, limits: '{ concurrency: 2, max_attempts: 3, max_stall: 1m }' });
    const run = await runCli(['run', job, '--yes', '--plain', '--no-cache'], { env: { GENBATCH_SHARED_DIR: join(dir, 'shared') } });
    expect(run.code, run.stderr.slice(-1200)).toBe(0);
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: 6 });
  });
});
