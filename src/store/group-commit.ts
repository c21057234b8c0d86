import type Database from 'better-sqlite3';

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
  private queue: Pending[] = [];
  private scheduled = false;
  /**
   * Checked inside every batch's transaction before its writes (the run still holds the job's lock):
   * when it throws, nothing of the batch is written and every write in it is rejected with its error.
   */
  fence: (() => void) | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly maxBatch = 512,
  ) {}

  /** Queues a write; resolves with its result once it is committed. */
  submit<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits everything queued now (also used before the store closes). */
  flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.db.transaction(() => {
        this.fence?.();
        for (const pending of batch) {
          try {
            outcomes.push({ ok: true, value: pending.write() });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      })();
    } catch (error) {
      // The batch itself could not commit (disk full, I/O error): nothing in it is durable.
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) pending.resolve(outcome.value);
      else pending.reject(outcome?.error);
    });
  }
}
