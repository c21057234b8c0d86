import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls, billedUsd } from '../helpers/billed.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { NOTE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Issue 25, point 12: another process holding the state file's write lock. Before: after ~5 s the
 * heartbeat's UPDATE threw SQLITE_BUSY out of a timer (a stack trace, "This is a bug", exit 1).
 * The lock here is real: a second SQLite connection in this test process, in `BEGIN IMMEDIATE`.
 */
const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
let holder: Database.Database | undefined;
afterEach(async () => {
  if (holder?.open) {
    if (holder.inTransaction) holder.exec('ROLLBACK');
    holder.close();
  }
  holder = undefined;
  await emulator?.close();
  emulator = undefined;
});

/** What the ledger counts as spent: settled costs plus the worst case of calls whose outcome is unknown. */
const ledgerUsd = (state: string): number =>
  readStateFile(
    state,
    (db) => (db.prepare('SELECT coalesce(sum(CASE WHEN settled = 1 THEN cost_usd ELSE reserved_usd END), 0) AS usd FROM ledger').get() as { usd: number }).usd,
  );

/** Takes the state file's write lock from a second connection (what `sqlite3 state.db` + `BEGIN IMMEDIATE;` does). */
function lockStateFile(state: string): Database.Database {
  const db = new Database(state);
  db.pragma('busy_timeout = 10000');
  db.exec('BEGIN IMMEDIATE');
  return db;
}

async function startJob(
  items: number,
  maxStall: string,
  options: { latencyMs?: number | { min: number; max: number }; concurrency?: number } = {},
): Promise<{ dir: string; job: string; state: string }> {
  emulator = await startEmulator(parseEmulatorConfig({ seed: 3, latency_ms: options.latencyMs ?? { min: 80, max: 120 } }), { port: 0 });
  const dir = tempDir();
  writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
  // Room for thinking and text: no reply is cut at max_output_tokens (a failed item would change the exit code).
  const job = writeJob(dir, {
    items,
    steps: NOTE_STEP.replace('max_output_tokens: 1000', 'max_output_tokens: 4000'),
    limits: `{ concurrency: ${options.concurrency ?? 2}, max_stall: ${maxStall} }`,
  });
  return { dir, job, state: join(dir, '.genbatch', 'quota-job.db') };
}

describe('another process holds the state file (a real second SQLite connection in BEGIN IMMEDIATE)', () => {
  it('a lock held for 12 s: the run waits for it and finishes, nothing crashes and nothing is paid twice', async () => {
    const items = 40;
    const { job, state } = await startJob(items, '60s');
    const child = spawnCli(['run', job, '--yes']);
    await waitUntil(() => (stepStates(state).done ?? 0) >= 4);
    holder = lockStateFile(state);
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    holder.exec('COMMIT');
    holder.close();
    const run = await child.output;
    expect(run.stderr).not.toMatch(/SQLITE_BUSY|crashed|This is a bug|\n\s+at /);
    expect(run.code, run.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ done: items });
    expect(billedCalls(emulator as RunningEmulator)).toBe(items);
    expect(ledgerUsd(state)).toBeGreaterThanOrEqual(billedUsd(emulator as RunningEmulator) - 1e-9);
  }, 90_000);

  it('a lock that stays: the run stops cleanly (exit 75) naming the file and the process holding it; the resume pays nothing twice', async () => {
    const items = 40;
    const { job, state } = await startJob(items, '8s');
    const child = spawnCli(['run', job, '--yes']);
    await waitUntil(() => (stepStates(state).done ?? 0) >= 4);
    holder = lockStateFile(state);
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([child.output, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 60_000)))]);
    clearTimeout(timer);
    holder.exec('COMMIT');
    holder.close();
    if (stopped === undefined) child.kill('SIGKILL');
    const run = stopped ?? (await child.output);
    expect(run.stderr).not.toMatch(/SQLITE_BUSY|crashed|This is a bug|\n\s+at /);
    expect(run.code, run.stderr).toBe(75);
    expect(run.stderr).toMatch(/state file .*quota-job\.db is locked by another process/);
    expect(run.stderr).toContain(`pid ${process.pid}`);
    expect(run.stderr).toMatch(/hint: .*genbatch resume/);
    const paidBefore = billedCalls(emulator as RunningEmulator);
    const doneBefore = stepStates(state).done ?? 0;
    // No new call while the file was locked: at most the two calls in flight went on.
    expect(paidBefore).toBeLessThanOrEqual(doneBefore + 2);
    expect(ledgerUsd(state)).toBeGreaterThanOrEqual(billedUsd(emulator as RunningEmulator) - 1e-9);

    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ done: items });
    // Only the replies in flight when it stopped (at most 2) were paid again.
    expect(billedCalls(emulator as RunningEmulator)).toBeLessThanOrEqual(items + 2);
    expect(ledgerUsd(state)).toBeGreaterThanOrEqual(billedUsd(emulator as RunningEmulator) - 1e-9);
  }, 120_000);
});

const MiB = 1024 * 1024;
const walBytes = (state: string): number => statSync(`${state}-wal`, { throwIfNoEntry: false })?.size ?? 0;

/**
 * Issue 25, point 13: a reader that keeps a transaction open pins the WAL (no checkpoint can pass
 * its snapshot), and every commit grows it. Before: 1.67 GB for a 34 MB state in 60 s, not a word.
 * The reader here is real: a second SQLite connection of this test process inside BEGIN.
 */
describe('a reader keeps a transaction open on the state file (a real second SQLite connection)', () => {
  it('the run names the reader, holds its writes at the bound (no new call), goes on once it ends, and the WAL is cut back', async () => {
    const items = 6000;
    const concurrency = 16;
    const { job, state } = await startJob(items, '5m', { latencyMs: 5, concurrency });
    const child = spawnCli(['run', job, '--yes']);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitUntil(() => (stepStates(state).done ?? 0) >= 10);
    holder = new Database(state, { readonly: true });
    holder.exec('BEGIN');
    holder.prepare('SELECT count(*) FROM items').get();
    let largest = 0;
    const sampler = setInterval(() => (largest = Math.max(largest, walBytes(state))), 100);
    try {
      // Before: the WAL grew past the bound with not a word (the run ended first, or 60 s passed).
      await waitUntil(() => /no new call is sent until that read transaction ends/.test(stderr) || child.exitCode !== null, 60_000);
      // Held at the bound: what was written past it is about a second of commits (a look per second).
      expect(largest).toBeLessThan(128 * MiB + 96 * MiB);
      expect(stderr).toMatch(
        new RegExp(
          `warning: the state file's WAL \\(.*quota-job\\.db-wal\\) has grown to \\d+ MB: pid ${process.pid} \\(node\\) keeps a read transaction open`,
        ),
      );
      expect(stderr).toMatch(new RegExp(`The state file's WAL reached \\d+ MB and pid ${process.pid} \\(node\\) still pins it: no new call is sent`));
      // Held: the calls in flight end, and nothing new is sent while the reader pins the WAL.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const paidWhileHeld = billedCalls(emulator as RunningEmulator);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(billedCalls(emulator as RunningEmulator)).toBe(paidWhileHeld);
    } finally {
      holder.exec('COMMIT');
      holder.close();
    }
    const run = await child.output;
    clearInterval(sampler);
    expect(run.stderr).not.toMatch(/SQLITE_BUSY|crashed|This is a bug|\n\s+at /);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/The state file's WAL is checkpointed again( \(it had grown to \d+ MB\))?; it is back to \d+ MB\./);
    expect(run.stderr).not.toMatch(/is locked by another process/);
    expect(stepStates(state).pending ?? 0).toBe(0);
    expect(billedCalls(emulator as RunningEmulator)).toBe(items);
    expect(ledgerUsd(state)).toBeGreaterThanOrEqual(billedUsd(emulator as RunningEmulator) - 1e-9);
  }, 150_000);

  it('a run killed while a reader pins the WAL: the next run starts by naming the reader, and checkpoints once it ends', async () => {
    const items = 6000;
    const { job, state } = await startJob(items, '5m', { latencyMs: 5, concurrency: 16 });
    const child = spawnCli(['run', job, '--yes']);
    await waitUntil(() => (stepStates(state).done ?? 0) >= 10);
    holder = new Database(state, { readonly: true });
    holder.exec('BEGIN');
    holder.prepare('SELECT count(*) FROM items').get();
    await waitUntil(() => walBytes(state) > 80 * MiB || child.exitCode !== null, 60_000);
    child.kill('SIGKILL');
    await child.output;
    expect(walBytes(state)).toBeGreaterThan(80 * MiB);

    // The reader is still there when the next run starts: its first look at the WAL names it.
    const next = spawnCli(['resume', job, '--yes']);
    let stderr = '';
    next.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitUntil(() => /keeps a read transaction open/.test(stderr) || next.exitCode !== null, 30_000);
      expect(stderr).toMatch(
        new RegExp(
          `warning: the state file's WAL \\(.*quota-job\\.db-wal\\) has grown to \\d+ MB: pid ${process.pid} \\(node\\) keeps a read transaction open`,
        ),
      );
    } finally {
      holder.exec('COMMIT');
      holder.close();
    }
    const resumed = await next.output;
    expect(resumed.stderr).not.toMatch(/SQLITE_BUSY|crashed|This is a bug|\n\s+at /);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/The state file's WAL is checkpointed again( \(it had grown to \d+ MB\))?; it is back to \d+ MB\./);
    expect(stepStates(state)).toEqual({ done: items });
  }, 120_000);
});
