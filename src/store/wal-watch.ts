import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { isDatabaseBusy } from '../errors/state-file-locked-error.js';
import { displayPath } from '../job/load-job.js';
import type { GroupCommit } from './group-commit.js';
import { describeProcess, lockHolders } from './lock-holders.js';

const MiB = 1024 * 1024;

/**
 * `PRAGMA journal_size_limit`: once a checkpoint has copied the WAL back and SQLite starts it over,
 * the file is cut down to this size instead of keeping its largest size on disk.
 */
export const WAL_SIZE_LIMIT = 64 * MiB;
/** Above this, every look checkpoints and says who pins the WAL when it cannot be checkpointed. */
const WAL_WARN_BYTES = 64 * MiB;
/** How often a run looks at its WAL. */
const WAL_LOOK_MS = 1000;

/**
 * The bound of a WAL that cannot be checkpointed: writes are held back there (no new call is sent)
 * until the reader that pins it ends its transaction. 128 MiB, or 4 times the database when larger
 * (a big state writes more per commit).
 */
export function walBound(databaseBytes: number): number {
  return Math.max(128 * MiB, 4 * databaseBytes);
}

const size = (file: string): number => statSync(file, { throwIfNoEntry: false })?.size ?? 0;
const mib = (bytes: number): string => (bytes >= 1024 * MiB ? `${(bytes / 1024 / MiB).toFixed(2)} GB` : `${Math.round(bytes / MiB)} MB`);

/**
 * Keeps a run's WAL bounded. SQLite checkpoints the WAL on its own (every 1000 pages), but a checkpoint
 * cannot go past the snapshot of a reader whose transaction stays open (a sqlite3 shell inside BEGIN,
 * a viewer): every commit then grows the file (1.67 GB for a 34 MB state in 60 s). A run looks at
 * its WAL when it starts and every second: a large one is checkpointed and truncated when nothing pins
 * it; when a reader does, a warning names the file and the reader's pid (again each time the file
 * doubles), and at walBound() the writes are held back until the reader lets go.
 */
export class WalWatch {
  #timer: NodeJS.Timeout | undefined;
  #warnAt = WAL_WARN_BYTES;
  #holding = false;
  /** The first look (at the start of a run) speaks of a WAL an earlier run left. */
  #looked = false;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly group: GroupCommit,
    private readonly notice: (message: string) => void,
  ) {}

  /** Whether writes are held back now (the WAL is at its bound and pinned). */
  get holding(): boolean {
    return this.#holding;
  }

  start(): void {
    this.look();
    this.#timer = setInterval(() => this.look(), WAL_LOOK_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One look: checkpoint what can be, warn about what cannot. */
  look(): void {
    if (!this.db.open) return;
    try {
      this.lookOnce();
    } catch (error) {
      // Another connection checkpointing or locking the file at that moment: the next look tries again.
      if (!isDatabaseBusy(error)) throw error;
    } finally {
      this.#looked = true;
    }
  }

  private lookOnce(): void {
    const walBytes = size(`${this.file}-wal`);
    const large = walBytes > WAL_WARN_BYTES;
    let pinned = false;
    if (large) {
      const [result] = this.db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
      pinned = result !== undefined && result.log > result.checkpointed;
    }
    if (!pinned) {
      // Everything is copied back: start the WAL over and cut the file (without waiting on a reader in passing).
      if (large) {
        const busyTimeout = this.db.pragma('busy_timeout', { simple: true }) as number;
        this.db.pragma('busy_timeout = 0');
        try {
          this.db.pragma('wal_checkpoint(TRUNCATE)');
        } finally {
          this.db.pragma(`busy_timeout = ${busyTimeout}`);
        }
      }
      const warned = this.#warnAt > WAL_WARN_BYTES;
      if (warned || (large && !this.#looked))
        this.notice(
          `The state file's WAL ${warned ? 'is checkpointed again' : 'left by an earlier run is checkpointed'}${large ? ` (it had grown to ${mib(walBytes)})` : ''}; it is back to ${mib(size(`${this.file}-wal`))}.`,
        );
      this.#warnAt = WAL_WARN_BYTES;
      this.hold(false);
      return;
    }
    const bound = walBound(size(this.file));
    if (walBytes >= this.#warnAt) {
      this.#warnAt = walBytes * 2;
      this.notice(
        `warning: the state file's WAL (${displayPath(this.file)}-wal) has grown to ${mib(walBytes)}: ${this.pinnedBy()} keeps a read transaction open on it, so SQLite cannot checkpoint it. End that transaction (COMMIT or ROLLBACK in a sqlite3 shell, or close the tool); at ${mib(bound)} genbatch holds its writes and sends no new call until it is ended.`,
      );
    }
    if (walBytes >= bound && !this.#holding) {
      this.notice(`The state file's WAL reached ${mib(walBytes)} and ${this.pinnedBy()} still pins it: no new call is sent until that read transaction ends.`);
      this.hold(true);
    }
  }

  /** "pid 123 (sqlite3)", or "another process" when the system does not say. */
  pinnedBy(): string {
    const readers = lockHolders(this.file).readers.map(describeProcess);
    return readers.length > 0 ? readers.join(', ') : 'another process';
  }

  private hold(on: boolean): void {
    if (this.#holding === on) return;
    this.#holding = on;
    this.group.hold(on);
  }
}
