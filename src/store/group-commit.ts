import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import { isDatabaseBusy } from '../errors/state-file-locked-error.js';
import { TurnBatch } from './turn-batch.js';

/**
 * How writes wait for another process's lock on the file (a sqlite3 shell inside BEGIN, a script):
 * each attempt waits the connection's busy timeout; between attempts the event loop runs on (replies
 * of calls in flight arrive, nothing new is sent since every call's intent waits in the queue).
 */
export interface LockWait {
  /** How long the file may stay locked before the queued writes fail with `failure` (monotonic). */
  waitMs: number;
  /** Once per wait, when it begins. */
  onWaiting?: () => void;
  /** The error queued writes fail with when the file stayed locked (or held) for `waitedMs`. */
  failure: (waitedMs: number) => Error;
}

/** A write that met the lock of another process, or a hold: the batch waits like it does for a lock. */
const HELD = Object.assign(new Error('writes are held'), { code: 'SQLITE_BUSY' });

/** Pause between two attempts at a locked file (each attempt itself waits the busy timeout). */
const LOCKED_RETRY_MS = 250;

interface Pending {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: checkpoints from every call in flight are committed together, in one transaction
 * per short batch (at most `maxBatch` writes, flushed on the next turn of the event loop), instead
 * of one transaction each. A caller's promise settles only after the transaction holding its write
 * has committed, so a worker that awaits it before its next call keeps the crash promise: a
 * `kill -9` can only lose (and re-bill) the calls in flight.
 *
 * A write that throws (a guarded transition that found its row changed, after changing nothing)
 * rejects its own promise and leaves the others to commit. Writes that must hold together use
 * their own transaction (it becomes a savepoint inside the batch).
 */
export class GroupCommit {
  /** The writes of this turn of the event loop, committed together at its end (see turn-batch.ts). */
  private readonly turns: TurnBatch<Pending[]>;
  /**
   * Checked inside every batch's transaction before its writes (the run still holds the job's lock):
   * when it throws, nothing of the batch is written and every write in it is rejected with its error.
   */
  fence: (() => void) | undefined;
  /** While the file is locked by another process: when the first attempt that met the lock began. */
  private lockedSince: number | undefined;
  private lockWait: LockWait | undefined;
  /** Writes held back on purpose (a WAL that cannot be checkpointed has reached its bound). */
  private held = false;

  constructor(
    private readonly db: Database.Database,
    maxBatch = 512,
  ) {
    this.turns = new TurnBatch<Pending[]>({ empty: () => [], size: (batch) => batch.length, write: (batch) => this.commit(batch, false), max: maxBatch });
  }

  /** Writes wait for a lock held by another process (else they fail at the busy timeout). */
  waitForLocks(wait: LockWait): void {
    this.lockWait = wait;
  }

  /**
   * Holds every write back (they wait as for a lock, and fail the same way after `waitMs`), or lets
   * them go again.
   */
  hold(on: boolean): void {
    this.held = on;
    if (!on && this.turns.retrying) this.flush();
  }

  /** Queues a write; resolves with its result once it is committed. */
  submit<T>(write: () => T): Promise<T> {
    // While the file is locked, the next attempt is already set (TurnBatch.retrying): the write waits for it.
    return new Promise<T>((resolve, reject) => {
      this.turns.update((queue) => queue.push({ write, resolve: resolve as (value: unknown) => void, reject }));
    });
  }

  /**
   * Commits everything queued now. `final` (before the store closes): a locked file is not waited
   * for again, the writes fail.
   */
  flush(final = false): void {
    const batch = this.turns.take();
    if (batch.length > 0) this.commit(batch, final);
  }

  /** One transaction for the batch, fenced; a locked file keeps it queued (in order) until `lockWait` says stop. */
  private commit(batch: Pending[], final: boolean): void {
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const began = performance.now();
    try {
      if (this.held && !final) throw HELD;
      // IMMEDIATE: the write lock is taken at BEGIN, so a locked file fails the batch as a whole.
      this.db
        .transaction(() => {
          this.fence?.();
          for (const pending of batch) {
            try {
              outcomes.push({ ok: true, value: pending.write() });
            } catch (error) {
              if (isDatabaseBusy(error)) throw error;
              outcomes.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      let failure = error;
      if (isDatabaseBusy(error) && this.lockWait) {
        if (this.lockedSince === undefined) {
          this.lockedSince = began;
          // A hold is announced by whoever set it.
          if (error !== HELD) this.lockWait.onWaiting?.();
        }
        const waited = performance.now() - this.lockedSince;
        if (!final && waited < this.lockWait.waitMs) {
          // Still locked: everything stays queued, in order, for the next attempt.
          this.turns.retryIn(LOCKED_RETRY_MS, (queued) => batch.concat(queued));
          return;
        }
        failure = this.lockWait.failure(waited);
      }
      // The batch itself could not commit (disk full, I/O error, a lock that stayed): nothing in it is durable.
      for (const pending of batch) pending.reject(failure);
      return;
    }
    this.lockedSince = undefined;
    batch.forEach((pending, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) pending.resolve(outcome.value);
      else pending.reject(outcome?.error);
    });
  }
}
