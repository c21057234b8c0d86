import { join } from 'node:path';
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
    writeCredentials(
      join(dir, 'credentials.yaml'),
      emulator.url,
      PROJECTS.map((name) => ({ name })),
    );
    const job = writeJob(dir, { items: 60, steps: BRIEF_STEP, limits: `{ concurrency: ${concurrency}, max_attempts: 3, max_stall: 2s }` });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');

    const stalled = await runCli(['run', job]);
    expect(stalled.code).toBe(75);
    expect(stalled.stderr).toMatch(/Stalled on quota: no pending work could make progress for \ds/);
    expect(stalled.stderr).toMatch(/pool "default", model gemini-2\.5-flash: every project is cooling down; expected back at \d{4}-\d\d-\d\dT/);
    expect(stalled.stderr).toMatch(/Completed meanwhile in this run: 30 step\(s\) \(brief: 30\)/);
    expect(stalled.stderr).toMatch(/hint: Resume later/);
    const log = emulator.log();
    const into = log.filter((r) => r.status === 429).length;
    expect(log.filter((r) => r.status === 200)).toHaveLength(30);
    console.log(`storm: ${into} requests into the wall (bound ${concurrency + 2 * PROJECTS.length})`);
    expect(into).toBeLessThanOrEqual(concurrency + 2 * PROJECTS.length);

    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as {
      last_run: { outcome: string; exit_code: number };
      counts: Record<string, number>;
    };
    expect(status.last_run).toMatchObject({ outcome: 'stalled', exit_code: 75 });
    expect(status.counts).toMatchObject({ done: 30, pending: 30, running: 0, failed: 0 });

    // An immediate resume takes the saved cooldowns as a hint: one probe per project and model, then it stalls again.
    const immediate = await runCli(['resume', job]);
    expect(immediate.code).toBe(75);
    const probes = emulator.log().slice(log.length);
    expect(probes).toHaveLength(PROJECTS.length);
    expect(new Set(probes.map((r) => r.project))).toEqual(new Set(PROJECTS));
    expect(probes.every((r) => r.status === 429)).toBe(true);

    // Later: the quota is back — a fresh emulator with quota, the state file untouched.
    await emulator.close();
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: { min: 100, max: 100 } }), { port: 0 });
    writeCredentials(
      join(dir, 'credentials.yaml'),
      emulator.url,
      PROJECTS.map((name) => ({ name })),
    );
    const t1 = Date.now();
    const later = await runCli(['resume', job]);
    expect(later.code).toBe(0);
    expect(Date.now() - t1).toBeLessThan(20_000);
    expect(stateCounts(stateFile)).toEqual({ done: 60 });
    // Only the 30 items left were called, none refused: nothing done was redone.
    const fresh = emulator.log();
    expect(fresh.filter((r) => r.status === 200)).toHaveLength(30);
    expect(fresh.filter((r) => r.status !== 200)).toHaveLength(0);
    // One probe per project first: its second call is sent only after the probe was answered.
    for (const project of PROJECTS) {
      const calls = fresh.filter((r) => r.project === project);
      if (calls.length >= 2) expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(90);
    }
  });
});
