import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GroupCommit } from '../../src/store/group-commit.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * The group commit against a file another connection holds (a real second SQLite connection in
 * BEGIN IMMEDIATE): queued writes wait, in order, and commit once it is free; past the wait they fail
 * with the error the store gives; a hold makes them wait the same way without touching the file.
 * The wait between attempts (setTimeout) runs in fake time; each attempt meets the real lock (its
 * busy_timeout, 20 ms), and the wait is measured in real time. setImmediate, on which a commit
 * starts, stays real.
 */
const tempDir = useTempDir();
const open: Database.Database[] = [];
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
  for (const db of open.splice(0)) if (db.open) db.close();
});

function connect(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // Short: each attempt of the group commit waits this long for the lock.
  db.pragma('busy_timeout = 20');
  open.push(db);
  return db;
}

function setUp(waitMs: number): { db: Database.Database; holder: Database.Database; group: GroupCommit; waits: number[] } {
  const file = join(tempDir(), 'state.db');
  const db = connect(file);
  db.exec('CREATE TABLE t (n INTEGER)');
  const holder = connect(file);
  const group = new GroupCommit(db);
  const waits: number[] = [];
  group.waitForLocks({ waitMs, onWaiting: () => waits.push(Date.now()), failure: (waited) => new Error(`locked for ${Math.round(waited)} ms`) });
  return { db, holder, group, waits };
}

const rows = (db: Database.Database): number[] => db.prepare('SELECT n FROM t ORDER BY rowid').pluck().all() as number[];
/** Lets `ms` of fake time pass (the commit's retries run meanwhile). */
const elapse = async (ms: number): Promise<void> => {
  await new Promise<void>((resolve) => setImmediate(resolve));
  await vi.advanceTimersByTimeAsync(ms);
};

describe('group commit and a lock held by another connection', () => {
  it('writes wait while the file is locked and commit in order once it is free; the wait is announced once', async () => {
    const { db, holder, group, waits } = setUp(5000);
    holder.exec('BEGIN IMMEDIATE');
    const insert = (n: number): Promise<unknown> => group.submit(() => db.prepare('INSERT INTO t VALUES (?)').run(n));
    const first = [insert(1), insert(2)];
    await elapse(150);
    const later = insert(3);
    await elapse(150);
    expect(rows(db)).toEqual([]);
    holder.exec('COMMIT');
    // The next attempt, 250 ms after the last.
    await elapse(250);
    await Promise.all([...first, later]);
    expect(rows(db)).toEqual([1, 2, 3]);
    expect(waits).toHaveLength(1);
  });

  it('a lock that stays past the wait fails the queued writes with the given error, and none is written', async () => {
    // A wait shorter than one attempt's busy_timeout: the first attempt outlasts it.
    const { db, holder, group } = setUp(10);
    holder.exec('BEGIN IMMEDIATE');
    const write = group.submit(() => db.prepare('INSERT INTO t VALUES (1)').run());
    await expect(write).rejects.toThrow(/locked for \d+ ms/);
    holder.exec('ROLLBACK');
    expect(rows(db)).toEqual([]);
    // Free again: the next write commits at once.
    await group.submit(() => db.prepare('INSERT INTO t VALUES (2)').run());
    expect(rows(db)).toEqual([2]);
  });

  it('a hold keeps writes back without the file being locked, until it is lifted', async () => {
    const { db, group, waits } = setUp(5000);
    group.hold(true);
    const write = group.submit(() => db.prepare('INSERT INTO t VALUES (7)').run());
    await elapse(100);
    expect(rows(db)).toEqual([]);
    group.hold(false);
    await write;
    expect(rows(db)).toEqual([7]);
    // A hold is announced by whoever holds (the WAL watch), not as a lock.
    expect(waits).toHaveLength(0);
  });
});
