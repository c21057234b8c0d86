import { GenbatchError } from './genbatch-error.js';

/**
 * The run could not write its state file for longer than it waits (limits.max_stall), because of
 * another process: one held the write lock (a sqlite3 shell left inside a transaction, a script or a
 * tool writing into it), or (`wal_pinned`) one kept a read transaction open so long that the file's
 * WAL reached its bound and genbatch held its writes back. The run took no new call meanwhile (each
 * call's intent is committed before it is sent). Exit 75, resumable.
 */
export class StateFileLockedError extends GenbatchError {
  constructor(
    readonly file: string,
    /** Who holds it, as "pid 123 (sqlite3)", when the system says (Linux /proc/locks); else empty. */
    readonly holders: readonly string[],
    waitedMs: number,
    readonly reason: 'write_lock' | 'wal_pinned' = 'write_lock',
  ) {
    const who = holders.length > 0 ? ` (${holders.join(', ')})` : '';
    const waited = `${Math.round(waitedMs / 1000)}s`;
    super(
      reason === 'write_lock'
        ? `The state file ${file} is locked by another process${who} and stayed locked for ${waited}; genbatch stopped taking new calls.`
        : `The state file's WAL (${file}-wal) reached its bound while another process${who} kept a read transaction open, and it stayed open for ${waited}; genbatch stopped taking new calls.`,
      {
        code: reason === 'write_lock' ? 'STATE_LOCKED' : 'STATE_WAL_PINNED',
        retryable: true,
        exitCode: 75,
        hint: `${reason === 'write_lock' ? 'Let that process finish, or end its transaction (COMMIT or ROLLBACK in a sqlite3 shell)' : 'End that read transaction (COMMIT or ROLLBACK in a sqlite3 shell, or close the tool reading the file)'}, then \`genbatch resume JOB\`: nothing done is redone; replies in flight when the run stopped are counted at their worst case and redone. limits.max_stall sets how long a run waits for the file.`,
      },
    );
  }
}

/** SQLite's "database is locked" (SQLITE_BUSY and its extended codes): another connection holds the lock past the busy timeout. */
export function isDatabaseBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
