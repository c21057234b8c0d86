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

async function startJob(items: number, maxStall: string): Promise<{ dir: string; job: string; state: string }> {
  emulator = await startEmulator(parseEmulatorConfig({ seed: 3, latency_ms: { min: 80, max: 120 } }), { port: 0 });
  const dir = tempDir();
  writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
  const job = writeJob(dir, { items, steps: NOTE_STEP, limits: `{ concurrency: 2, max_stall: ${maxStall} }` });
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
