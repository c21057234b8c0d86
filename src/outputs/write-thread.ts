import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** One small file to write: its temp name beside the target, the target, and the content. */
type FileWrite = [temp: string, target: string, data: string | Uint8Array];

/** What the write thread is sent: the files of one turn of the event loop. */
export interface WriteBatch {
  batch: number;
  writes: FileWrite[];
}

/** What it answers, in the same order: milliseconds each write took, or why it failed. */
export interface WriteOutcomes {
  batch: number;
  outcomes: (number | { code?: string; message: string })[];
}

interface Waiting {
  resolve: (ms: number) => void;
  reject: (error: Error) => void;
}

/** The thread stopped (crashed, or was closed) with writes outstanding: they may be done again here. */
export class WriteThreadStopped extends Error {}

/** The compiled worker beside this module (dist/); the TypeScript sources (tests, tsx) have none. */
const WORKER = new URL('./write-thread-worker.js', import.meta.url);

/**
 * A thread of its own for a run's small output files. Each write is a few system calls (open,
 * write, close, rename) that the main thread would otherwise make itself, between replies: at
 * hundreds of outputs a second that was about a tenth of a run's time. The writes of one turn of
 * the event loop go over as one message and come back as one, so the cost on the main thread is a
 * message per batch, not a thread-pool round trip per call as with asynchronous fs calls.
 *
 * Each promise settles once its file is renamed into place (or failed), so a checkpoint that waits
 * for it still follows the file: a killed run never has a step done whose file is missing.
 */
export class WriteThread {
  private queue: FileWrite[] = [];
  private waiting: Waiting[] = [];
  private readonly posted = new Map<number, Waiting[]>();
  private nextBatch = 0;
  private scheduled = false;
  private stopped: Error | undefined;

  /** The thread, or undefined when it cannot start (no compiled worker: tests and tsx run from sources). */
  static start(worker: URL = WORKER): WriteThread | undefined {
    if (!existsSync(fileURLToPath(worker))) return undefined;
    try {
      // A small heap: it holds a turn's files at most (a few MB at 64 outputs of 64 KB), and a
      // million-row run stays near 200 MB.
      return new WriteThread(new Worker(worker, { resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 } }));
    } catch {
      return undefined;
    }
  }

  private constructor(private readonly worker: Worker) {
    // Never what keeps a process alive: every write is awaited by the run that asked for it.
    worker.unref();
    worker.on('message', ({ batch, outcomes }: WriteOutcomes) => {
      const waiting = this.posted.get(batch) ?? [];
      this.posted.delete(batch);
      waiting.forEach((w, index) => {
        const outcome = outcomes[index];
        if (typeof outcome === 'number') w.resolve(outcome);
        else w.reject(Object.assign(new Error(outcome?.message ?? 'the write failed'), outcome?.code === undefined ? {} : { code: outcome.code }));
      });
    });
    worker.on('error', (error) => this.stop(new WriteThreadStopped(`the write thread failed: ${error.message}`)));
    worker.on('exit', () => this.stop(new WriteThreadStopped('the write thread stopped')));
  }

  /** Writes `data` to `temp`, then renames it to `target`; resolves with the milliseconds it took there. */
  write(temp: string, target: string, data: string | Uint8Array): Promise<number> {
    if (this.stopped) return Promise.reject(this.stopped);
    return new Promise<number>((resolve, reject) => {
      // A copy of its own: a Buffer is often a view of a shared 8 KB pool, all of which would be copied.
      this.queue.push([temp, target, typeof data === 'string' ? data : Uint8Array.prototype.slice.call(data)]);
      this.waiting.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.post());
      }
    });
  }

  private post(): void {
    this.scheduled = false;
    if (this.queue.length === 0 || this.stopped) return;
    const batch = this.nextBatch++;
    const writes = this.queue;
    this.posted.set(batch, this.waiting);
    this.queue = [];
    this.waiting = [];
    const transfer = writes.flatMap(([, , data]) => (typeof data === 'string' ? [] : [data.buffer as ArrayBuffer]));
    this.worker.postMessage({ batch, writes } satisfies WriteBatch, transfer);
  }

  private stop(error: Error): void {
    if (this.stopped) return;
    this.stopped = error;
    for (const waiting of [...this.posted.values(), this.waiting]) for (const w of waiting) w.reject(error);
    this.posted.clear();
    this.queue = [];
    this.waiting = [];
  }

  /** Stops the thread (after the run's last write). */
  async close(): Promise<void> {
    this.stop(new WriteThreadStopped('the write thread was closed'));
    await this.worker.terminate();
  }
}
