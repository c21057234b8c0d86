import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const PROJECTS = ['acct-1', 'acct-2', 'acct-3'];

describe('storm: every project exhausted', () => {
  it('sends at most concurrency + 2 probes per project into the wall, exits 75 after max_stall, and resumes later without redoing work', async () => {
    const concurrency = 6;
    const quotaConfig = (exhausted: boolean) =>
      parseEmulatorConfig({
        latency_ms: { min: 5, max: 20 },
        // 10 calls per project, then the window is shut for an hour (Retry-After ~1h).
        projects: Object.fromEntries(PROJECTS.map((p) => [p, exhausted ? { requests: 10, window: '1h' } : {}])),
      });
    emulator = await startEmulator(quotaConfig(true), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, PROJECTS.map((name) => ({ name })));
    const job = writeJob(dir, { items: 60, steps: BRIEF_STEP, limits: `{ concurrency: ${concurrency}, max_attempts: 3, max_stall: 2s }` });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');

    const t0 = Date.now();
    const stalled = await runCli(['run', job]);
    expect(stalled.code).toBe(75);
    expect(stalled.stderr).toMatch(/Stalled on quota: every project has been cooling down for \ds; the earliest is expected back at \d{4}-\d\d-\d\dT/);
    expect(stalled.stderr).toMatch(/hint: Resume later/);
    expect(Date.now() - t0).toBeLessThan(20_000);
    const log = emulator.log();
    const into = log.filter((r) => r.status === 429).length;
    expect(log.filter((r) => r.status === 200)).toHaveLength(30);
    console.log(`storm: ${into} requests into the wall (bound ${concurrency + 2 * PROJECTS.length}), stopped after ${Date.now() - t0} ms`);
    expect(into).toBeLessThanOrEqual(concurrency + 2 * PROJECTS.length);

    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { last_run: { outcome: string; exit_code: number }; counts: Record<string, number> };
    expect(status.last_run).toMatchObject({ outcome: 'stalled', exit_code: 75 });
    expect(status.counts).toMatchObject({ done: 30, pending: 30, running: 0, failed: 0 });

    // An immediate resume respects the saved cooldowns: it sends nothing and stalls again.
    const immediate = await runCli(['resume', job]);
    expect(immediate.code).toBe(75);
    expect(emulator.log()).toHaveLength(log.length);

    // Later: the hour has passed (moved on in the state file) and the quota is back.
    const db = new Database(stateFile);
    db.prepare("UPDATE project_state SET until_at = '2000-01-01T00:00:00.000Z'").run();
    db.close();
    emulator.setConfig(quotaConfig(false));
    const later = await runCli(['resume', job]);
    expect(later.code).toBe(0);
    expect(stateCounts(stateFile)).toEqual({ done: 60 });
    // Only the 30 items left were called: nothing done was redone.
    expect(emulator.log().filter((r) => r.status === 200)).toHaveLength(60);
  });
});
