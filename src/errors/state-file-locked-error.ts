import { GenbatchError } from './genbatch-error.js';

/**
 * Another process held the state file's write lock for longer than the run waits (limits.max_stall):
 * a sqlite3 shell left inside a transaction, a script or a tool writing into it. The run took no new
 * call meanwhile (each call's intent is committed before it is sent). Exit 75, resumable.
 */
export class StateFileLockedError extends GenbatchError {
  constructor(
    readonly file: string,
    /** Who holds it, as "pid 123 (sqlite3)", when the system says (Linux /proc/locks); else empty. */
    readonly holders: readonly string[],
    waitedMs: number,
  ) {
    const who = holders.length > 0 ? ` (${holders.join(', ')})` : '';
    super(
      `The state file ${file} is locked by another process${who} and stayed locked for ${Math.round(waitedMs / 1000)}s; genbatch stopped taking new calls.`,
      {
        code: 'STATE_LOCKED',
        retryable: true,
        exitCode: 75,
        hint: `Let that process finish, or end its transaction (COMMIT or ROLLBACK in a sqlite3 shell), then \`genbatch resume JOB\`: nothing done is redone; replies in flight when the run stopped are counted at their worst case and redone. limits.max_stall sets how long a run waits for the file.`,
      },
    );
  }
}

/** SQLite's "database is locked" (SQLITE_BUSY and its extended codes): another connection holds the lock past the busy timeout. */
export function isDatabaseBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
