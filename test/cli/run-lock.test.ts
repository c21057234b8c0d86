import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls } from '../helpers/billed.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { stepStates } from '../helpers/state-file.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('one active run per job', () => {
  it('a second concurrent run exits 5 naming the holder; a lock left by a killed run is taken over', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 150 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const job = writeJob(dir, { items: 40, steps: BRIEF_STEP, limits: '{ concurrency: 2 }' });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const first = spawnCli(['run', job, '--yes']);
    const deadline = Date.now() + 20_000;
    while ((stepStates(stateFile).done ?? 0) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    const second = await runCli(['run', job, '--yes']);
    expect(second.code).toBe(5);
    expect(second.stderr).toMatch(new RegExp(`Another run of quota-job is active: pid ${first.pid} on \\S+, last heartbeat`));

    first.kill('SIGKILL');
    await first.output;
    const third = await runCli(['resume', job, '--yes']);
    expect(third.stderr).toMatch(new RegExp(`Took over the lock left by a run that is gone \\(pid ${first.pid}`));
    expect(third.code).toBe(0);
    expect(stepStates(stateFile)).toEqual({ done: 40 });
  });
});

describe('the job lock is read even while another connection holds the state file', () => {
  it('a second run exits 5 at once naming the live holder while a real second SQLite connection holds the write lock (as when the first run is stopped inside a commit)', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 150 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const job = writeJob(dir, { items: 40, steps: BRIEF_STEP, limits: '{ concurrency: 2, max_stall: 60s }' });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const first = spawnCli(['run', job, '--yes']);
    const deadline = Date.now() + 20_000;
    while ((stepStates(stateFile).done ?? 0) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const holder = new Database(stateFile);
    try {
      holder.pragma('busy_timeout = 10000');
      holder.exec('BEGIN IMMEDIATE');
      const second = await runCli(['run', job, '--yes']);
      expect(second.stderr).not.toMatch(/SQLITE_BUSY|This is a bug|\n\s+at /);
      expect(second.code, second.stderr).toBe(5);
      expect(second.stderr).toMatch(new RegExp(`Another run of quota-job is active: pid ${first.pid} on \\S+, last heartbeat`));
    } finally {
      if (holder.inTransaction) holder.exec('COMMIT');
      holder.close();
    }
    const result = await first.output;
    expect(result.code, result.stderr.slice(-600)).toBe(0);
    expect(stepStates(stateFile)).toEqual({ done: 40 });
  });

  it('with no run holding the job but the state file locked by another program, the run stops with exit 75 naming the lock, not a crash', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 20 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const job = writeJob(dir, { items: 4, steps: BRIEF_STEP, limits: '{ concurrency: 2 }' });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const warm = await runCli(['run', job, '--yes']);
    expect(warm.code, warm.stderr).toBe(0);
    const billed = billedCalls(emulator);
    const holder = new Database(stateFile);
    try {
      holder.exec('BEGIN IMMEDIATE');
      const second = await runCli(['run', job, '--yes']);
      expect(second.stderr).not.toMatch(/SQLITE_BUSY|This is a bug|\n\s+at /);
      expect(second.code, second.stderr).toBe(75);
      expect(second.stderr).toMatch(/state file .*quota-job\.db is locked by another process/);
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
    }
    expect(billedCalls(emulator)).toBe(billed);
  });
});
