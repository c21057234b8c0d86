import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { StateFileError } from '../errors/state-file-error.js';
import { displayPath } from '../job/load-job.js';
import { GET_LOCK } from './sql/run-lock.js';
import { USER_TABLES } from './sql/schema.js';
import { backupFileOf } from './state-files.js';
import { isKnownSound } from './state-stamp.js';
import { processAlive } from './process-alive.js';

/**
 * Checks of a state file before genbatch trusts it. A damaged file must never become a fresh job
 * (that re-bills everything) nor crash later with a stack trace: it is refused at open, naming the
 * file, what is wrong and what to do (restore the backup, or `--fresh-state`).
 */

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
/** A run that touched its lock this recently is alive: it vouches for the file it is writing. */
const ACTIVE_RUN_MS = 60_000;

/** What to do about a damaged file: the backup if there is one, else start over. */
export function recoveryHint(file: string): string {
  const shown = displayPath(file);
  const backup = backupFileOf(file);
  const stat = statSync(backup, { throwIfNoEntry: false });
  const fresh = `start over with \`genbatch run JOB --fresh-state\` (it moves the damaged file aside, and every item is done and paid for again)`;
  if (!stat) return `There is no backup (${displayPath(backup)} does not exist): ${fresh}.`;
  return (
    `Restore the backup taken at ${stat.mtime.toISOString()} (${displayPath(backup)}): mv ${shown} ${shown}.damaged && cp ${displayPath(backup)} ${shown} ` +
    `(move any ${shown}-wal and ${shown}-shm away too); the calls made after it are redone. Or ${fresh}.`
  );
}

function damaged(problem: 'empty' | 'not_sqlite' | 'truncated' | 'damaged', file: string, what: string, cause?: unknown): StateFileError {
  return new StateFileError(problem, file, `The state file ${displayPath(file)} ${what}. Nothing was sent.`, {
    hint: recoveryHint(file),
    ...(cause === undefined ? {} : { cause }),
  });
}

function walSize(file: string): number {
  return statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
}

/**
 * The checks that cost nothing, before SQLite opens the file (SQLite would take an empty file for a
 * new database, and fails on the others only at the first query): empty, not SQLite, cut short.
 * Returns whether the file exists.
 */
export function precheckStateFile(file: string): boolean {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) return false;
  if (!stat.isFile()) {
    throw new StateFileError('unreadable', file, `The state file ${displayPath(file)} is not a file. Nothing was sent.`, {
      hint: 'Point `state:` in the job file at a file, or move what is there away.',
    });
  }
  // Pages committed but not yet copied into the file are in the -wal: SQLite replays it at open.
  const pending = walSize(file);
  if (stat.size === 0) {
    if (pending > 0) return true;
    throw damaged('empty', file, 'is empty (0 bytes), but a state file is never empty once a job has run: it was cut off (a full disk, a failed copy)');
  }
  const header = Buffer.alloc(100);
  let read = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      read = readSync(fd, header, 0, header.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new StateFileError('unreadable', file, `Cannot read the state file ${displayPath(file)}: ${(error as Error).message}. Nothing was sent.`, {
      hint: 'Check the permissions of the state file and its folder (job key `state:`).',
      cause: error,
    });
  }
  if (read < MAGIC.length || !header.subarray(0, MAGIC.length).equals(MAGIC)) {
    if (read < MAGIC.length && MAGIC.subarray(0, read).equals(header.subarray(0, read))) throw damaged('truncated', file, `is cut short (${read} bytes)`);
    throw damaged('not_sqlite', file, 'is not a SQLite database (it was overwritten or replaced by something else)');
  }
  if (read < header.length) throw damaged('truncated', file, `is cut short (${read} bytes, less than its header)`);
  const raw = header.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    throw damaged('damaged', file, `is damaged: its header gives an impossible page size (${raw})`);
  }
  if (pending === 0) {
    // The header's page count is valid when the change counter matches "version valid for".
    const pages = header.readUInt32BE(28);
    const valid = header.readUInt32BE(24) === header.readUInt32BE(92);
    const expected = valid && pages > 0 ? pages * pageSize : undefined;
    if (expected !== undefined && stat.size < expected)
      throw damaged('truncated', file, `is cut short: it holds ${stat.size} bytes of the ${expected} its header says`);
    if (stat.size % pageSize !== 0) throw damaged('truncated', file, `is cut short: ${stat.size} bytes is not a whole number of ${pageSize}-byte pages`);
  }
  return true;
}

function readOnly(file: string, why: string, cause?: unknown): StateFileError {
  return new StateFileError('read_only', file, `Cannot use the state file ${displayPath(file)}: ${why}. Nothing was sent.`, {
    hint: `genbatch records every finished step in it: make ${displayPath(file)} and its folder writable (chmod u+w, or mount the folder read-write), or point \`state:\` at a writable place.`,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * For a run (or any command that writes the state): the file and its folder must be writable. SQLite
 * would otherwise open a read-only file read-only without a word, and fail at the first write.
 */
export function checkStateWritable(file: string): void {
  for (const [path, why] of [
    [dirname(file), 'its folder is read-only (SQLite also writes its -wal and -shm files there)'],
    [file, 'the file is read-only'],
  ] as const) {
    try {
      accessSync(path, constants.W_OK);
    } catch (error) {
      // A missing file or folder is created (or refused) when it is opened.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw readOnly(file, `${why} (${(error as NodeJS.ErrnoException).code})`, error);
    }
  }
}

/** A SQLite or file-system error met while opening or checking a state file, as the refusal it means. */
export function stateFileErrorOf(error: unknown, file: string): StateFileError | undefined {
  if (error instanceof StateFileError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  const message = (error as Error).message;
  // A missing file is not a problem of the file (the caller says what it expected).
  if (code.startsWith('SQLITE_CANTOPEN') && !statSync(file, { throwIfNoEntry: false })) return undefined;
  if (code === 'SQLITE_NOTADB') return damaged('not_sqlite', file, 'is not a SQLite database (it was overwritten or replaced by something else)', error);
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_IOERR_SHORT_READ') return damaged('damaged', file, `is damaged (SQLite: ${message})`, error);
  const folderWritable = (() => {
    try {
      accessSync(dirname(file), constants.W_OK);
      return true;
    } catch {
      return false;
    }
  })();
  if (
    code.startsWith('SQLITE_READONLY') ||
    code === 'EROFS' ||
    code === 'EACCES' ||
    code === 'EPERM' ||
    (code.startsWith('SQLITE_CANTOPEN') && !folderWritable)
  ) {
    return readOnly(file, folderWritable ? 'the file is read-only' : 'its folder is read-only (SQLite also writes its -wal and -shm files there)', error);
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_IOERR')) {
    return new StateFileError('unreadable', file, `Cannot open the state file ${displayPath(file)}: ${message}. Nothing was sent.`, {
      hint: 'Check the path, the permissions and the disk of the state file (job key `state:`).',
      cause: error,
    });
  }
  return undefined;
}

/**
 * Checks an open state file: that it is genbatch's, and (`PRAGMA quick_check`) that its pages and
 * b-trees are sound. quick_check reads the whole file (about 1.8 s for the 600 MB state of a
 * million-item job), so it is skipped when the file is exactly as genbatch last left it sound
 * (size and times unchanged since, see state-stamp.ts), and while a live run is writing it.
 * Returns whether the file is known sound.
 */
export function verifyStateFile(db: Database.Database, file: string): boolean {
  const tables = db.prepare(USER_TABLES).pluck().all() as string[];
  const version = db.pragma('user_version', { simple: true }) as number;
  if (tables.length > 0 && (version === 0 || !tables.includes('meta') || !tables.includes('item_steps'))) {
    throw new StateFileError(
      'foreign',
      file,
      `${displayPath(file)} is not a genbatch state file: it is a SQLite database with other tables (${tables.slice(0, 5).join(', ')}). Nothing was sent.`,
      { hint: 'Point `state:` in the job file at a file of its own: genbatch never writes into another database.' },
    );
  }
  if (tables.length === 0 || isKnownSound(file)) return true;
  if (runIsActive(db)) return false;
  const found = (db.pragma('quick_check(5)') as { quick_check: string }[])
    .flatMap((row) => row.quick_check.split('\n'))
    .filter((line) => line !== 'ok' && !line.startsWith('***'));
  if (found.length > 0) throw damaged('damaged', file, `is damaged: SQLite's integrity check found ${found.map((f) => `"${f}"`).join(', ')}`);
  return true;
}

function runIsActive(db: Database.Database): boolean {
  const value = db.prepare(GET_LOCK).pluck().get() as string | undefined;
  if (value === undefined) return false;
  try {
    const lock = JSON.parse(value) as { heartbeatAt?: string; pid?: number; host?: string };
    if (!(Date.now() - Date.parse(lock.heartbeatAt ?? '') < ACTIVE_RUN_MS)) return false;
    // A run killed a moment ago left a fresh heartbeat: on this host, its process says whether it lives.
    return typeof lock.pid !== 'number' || processAlive(lock.pid, lock.host ?? '');
  } catch {
    return false;
  }
}
