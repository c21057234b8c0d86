import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openInput } from './open-input.js';
import type { InputOptions } from './input-source.js';
import { offloadInput } from './offload-input.js';
import { hashOfRowJson } from './row-hash.js';

/** One input row as a sync stores it: its position, id, line, the row as JSON and that JSON's hash. */
export type SyncRow = [ord: number, id: string, line: number, rowJson: string, hash: string];

/** Rows per batch handed over, and batches a worker may read ahead of the writes (bounds memory). */
const BATCH = 500;
const AHEAD = 8;

/** The compiled worker beside this module (dist/); the TypeScript sources (tests, tsx) have none. */
const WORKER = new URL('./sync-rows-worker.js', import.meta.url);

/** The input's rows for a sync, in batches, read on this thread. */
export async function* readSyncRows(options: InputOptions, idColumn: string): AsyncGenerator<SyncRow[]> {
  const opened = await openInput(options);
  let batch: SyncRow[] = [];
  let ord = 0;
  for await (const record of opened.records()) {
    const rowJson = JSON.stringify(record.values);
    batch.push([ord++, (record.values[idColumn] ?? '').trim(), record.line, rowJson, hashOfRowJson(rowJson)]);
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * The input's rows for a sync, in batches. In the compiled CLI, for a big input, they are parsed and hashed on a
 * worker thread, a few batches ahead, while this thread writes the previous ones to the state file:
 * a million-row sync takes about as long as the slower of the two instead of their sum. If the
 * worker cannot start or fails, the rows are read here from the start (writing them again is
 * harmless: each row carries its position), so an input error is reported as it always is.
 */
export async function* syncRows(options: InputOptions, idColumn: string): AsyncGenerator<SyncRow[]> {
  if (!existsSync(fileURLToPath(WORKER)) || !offloadInput(options.file)) return yield* readSyncRows(options, idColumn);
  let worker: Worker;
  try {
    worker = new Worker(WORKER, { workerData: { options, idColumn, ahead: AHEAD }, resourceLimits: { maxYoungGenerationSizeMb: 16 } });
  } catch {
    return yield* readSyncRows(options, idColumn);
  }
  const queue: SyncRow[][] = [];
  let done = false;
  let failed = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on('message', (message: { rows?: SyncRow[]; done?: true; error?: string }) => {
    if (message.rows) queue.push(message.rows);
    else if (message.done) done = true;
    else failed = true;
    notify();
  });
  worker.on('error', () => {
    failed = true;
    notify();
  });
  worker.on('exit', () => {
    if (!done) failed = true;
    notify();
  });
  try {
    for (;;) {
      const rows = queue.shift();
      if (rows) {
        worker.postMessage('more');
        yield rows;
        continue;
      }
      if (failed) break;
      if (done) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    await worker.terminate();
  }
  yield* readSyncRows(options, idColumn);
}
