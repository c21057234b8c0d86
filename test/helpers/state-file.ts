import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';

/**
 * Opens a state file read-only for a test's own SQL (what is on disk, not what the store says) and
 * closes it afterwards. Throws when the file cannot be read. Product code reads state through
 * StateStore only; tests may look underneath.
 */
export function readStateFile<T>(stateFile: string, read: (db: Database.Database) => T): T {
  const db = new Database(stateFile, { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** Reads a state file that a running (or killed) CLI may still be creating; missing or half-created reads as `empty`. */
function query<T>(stateFile: string, empty: T, read: (db: Database.Database) => T): T {
  if (!existsSync(stateFile)) return empty;
  return readStateFile(stateFile, (db) => {
    try {
      return read(db);
    } catch {
      return empty;
    }
  });
}

/** Step rows by state, e.g. `{ done: 12, pending: 3 }`. */
export function stepStates(stateFile: string): Record<string, number> {
  return query(stateFile, {}, (db) => {
    const rows = db.prepare('SELECT state, count(*) AS n FROM item_steps GROUP BY state').all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  });
}

/** Step rows whose long-running operation name is checkpointed. */
export function checkpointedOperations(stateFile: string): number {
  return query(stateFile, 0, (db) => (db.prepare('SELECT count(*) AS n FROM item_steps WHERE operation_name IS NOT NULL').get() as { n: number }).n);
}

/**
 * SIGSTOPs a run at a moment it holds no write lock on its state file (a stop inside a commit would
 * keep every other process from writing the file, a different scenario): stopped, the file's write
 * lock is tried from here; while it is held the run is let go for a moment and stopped again.
 */
export async function stopOutsideCommit(child: { kill: (signal: NodeJS.Signals) => boolean }, stateFile: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    child.kill('SIGSTOP');
    const probe = new Database(stateFile);
    try {
      probe.pragma('busy_timeout = 0');
      probe.exec('BEGIN IMMEDIATE');
      probe.exec('ROLLBACK');
      return;
    } catch {
      child.kill('SIGCONT');
      await new Promise((resolve) => setTimeout(resolve, 5));
    } finally {
      probe.close();
    }
  }
  throw new Error(`the run kept ${stateFile} locked through 50 stops`);
}
