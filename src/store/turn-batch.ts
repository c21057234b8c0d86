/** How a TurnBatch gathers and writes. */
export interface TurnBatchOptions<B> {
  /** A fresh, empty batch. */
  empty: () => B;
  /** How many writes a batch holds (`max` is counted in these). */
  size: (batch: B) => number;
  /** Writes a whole batch in one go: one transaction, one write call. */
  write: (batch: B) => void;
  /** A batch this large is written at once, without waiting for the turn to end. */
  max?: number;
  /** 0 (default): written at the next turn of the event loop (setImmediate); else this many ms later. */
  delayMs?: number;
  /** The pending write never keeps the process alive (its owner writes what is left when it closes). */
  unref?: boolean;
}

/**
 * Writes gathered during one turn of the event loop, then written together (the group commit of the
 * state, the run log's lines, the response cache's stores and uses): one transaction or one write
 * call for all of them instead of one each. `update` adds to the batch being gathered and sets its
 * write; `flush` writes it now (before a close, a lock release); `retryIn` puts a batch that could not
 * be written back and tries again later (a file another process locks).
 */
export class TurnBatch<B> {
  readonly #options: TurnBatchOptions<B>;
  #batch: B;
  /** The next write: at the end of this turn, after the delay, or a retry. */
  #next: { kind: 'turn'; handle: NodeJS.Immediate } | { kind: 'timer' | 'retry'; handle: NodeJS.Timeout } | undefined;

  constructor(options: TurnBatchOptions<B>) {
    this.#options = options;
    this.#batch = options.empty();
  }

  /** The batch being gathered (read it, e.g. for a write still waiting; add to it with `update`). */
  get batch(): B {
    return this.#batch;
  }

  /** A retry is set (a write that met a lock): new writes wait for it. */
  get retrying(): boolean {
    return this.#next?.kind === 'retry';
  }

  /** Adds to the batch (or changes it), then makes sure it is written: now when it is full, else at the end of the turn. */
  update<T>(change: (batch: B) => T): T {
    const result = change(this.#batch);
    // While a retry is set, the batch waits for it (its order is kept).
    if (this.retrying) return result;
    const { max } = this.#options;
    if (max !== undefined && this.#options.size(this.#batch) >= max) this.flush();
    else this.#schedule();
    return result;
  }

  /** Takes the batch gathered so far (leaving an empty one) and cancels its pending write. */
  take(): B {
    this.#cancel();
    const batch = this.#batch;
    this.#batch = this.#options.empty();
    return batch;
  }

  /** Writes the batch gathered so far, now (nothing when it is empty). */
  flush(): void {
    const batch = this.take();
    if (this.#options.size(batch) > 0) this.#options.write(batch);
  }

  /** A batch that could not be written goes back (`merge` joins it with what was gathered meanwhile), and is written in `ms`. */
  retryIn(ms: number, merge: (current: B) => B): void {
    this.#cancel();
    this.#batch = merge(this.#batch);
    const handle = setTimeout(() => this.flush(), ms);
    if (this.#options.unref === true) handle.unref();
    this.#next = { kind: 'retry', handle };
  }

  #schedule(): void {
    if (this.#next !== undefined) return;
    const delay = this.#options.delayMs ?? 0;
    if (delay === 0) {
      const handle = setImmediate(() => {
        this.#next = undefined;
        this.flush();
      });
      if (this.#options.unref === true) handle.unref();
      this.#next = { kind: 'turn', handle };
      return;
    }
    const handle = setTimeout(() => {
      this.#next = undefined;
      this.flush();
    }, delay);
    if (this.#options.unref === true) handle.unref();
    this.#next = { kind: 'timer', handle };
  }

  #cancel(): void {
    const next = this.#next;
    this.#next = undefined;
    if (next?.kind === 'turn') clearImmediate(next.handle);
    else if (next !== undefined) clearTimeout(next.handle);
  }
}
