/**
 * The worker thread of syncRows: reads and hashes the input's rows, at most `ahead` batches before the
 * thread that writes them asks for more.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { InputOptions } from './input-source.js';
import { readSyncRows } from './sync-rows.js';

const { options, idColumn, ahead } = workerData as { options: InputOptions; idColumn: string; ahead: number };
const port = parentPort!;
let credits = ahead;
let wake: (() => void) | undefined;
port.on('message', () => {
  credits += 1;
  wake?.();
});
try {
  for await (const rows of readSyncRows(options, idColumn)) {
    while (credits === 0) await new Promise<void>((resolve) => (wake = resolve));
    credits -= 1;
    port.postMessage({ rows });
  }
  port.postMessage({ done: true });
} catch (error) {
  port.postMessage({ error: error instanceof Error ? error.message : String(error) });
}
