import { closeSync, openSync, writeSync } from 'node:fs';
import { TurnBatch } from '../store/turn-batch.js';

/**
 * An append-only file whose lines are written once per turn of the event loop: the lines of every
 * event of that moment go out in one synchronous write, instead of one write each (three per call
 * of a run at hundreds of calls a second). A `kill -9` can only lose the lines of the turn it
 * interrupts, a millisecond or so of events; `close` writes what is left.
 */
export class TurnBufferedFile {
  private readonly fd: number;
  private readonly lines: TurnBatch<string[]>;
  private failed = false;
  private closed = false;

  /** Opens (creating) `file` for appending; throws as openSync does. */
  constructor(
    file: string,
    private readonly onError: (error: Error) => void,
  ) {
    this.fd = openSync(file, 'a');
    this.lines = new TurnBatch<string[]>({ empty: () => [], size: (lines) => lines.length, write: (lines) => this.writeOut(lines) });
  }

  write(line: string): void {
    if (this.failed || this.closed) return;
    this.lines.update((lines) => lines.push(line));
  }

  flush(): void {
    this.lines.flush();
  }

  private writeOut(lines: string[]): void {
    if (this.failed) return;
    try {
      writeSync(this.fd, lines.join(''));
    } catch (error) {
      // Disk full, file gone: reported once; the run goes on without its log.
      this.failed = true;
      this.onError(error as Error);
    }
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    closeSync(this.fd);
  }
}
