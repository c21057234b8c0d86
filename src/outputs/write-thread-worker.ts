/**
 * The worker thread of WriteThread: writes each file of a batch to its temp name, renames it into
 * place, and answers with how long each took (or why it failed), in the order given.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { WriteBatch, WriteOutcomes } from './write-thread.js';

const port = parentPort!;
port.on('message', ({ batch, writes }: WriteBatch) => {
  const outcomes: WriteOutcomes['outcomes'] = writes.map(([temp, target, data]) => {
    const started = performance.now();
    try {
      writeFileSync(temp, data, { flag: 'wx' });
      renameSync(temp, target);
      return performance.now() - started;
    } catch (error) {
      rmSync(temp, { force: true });
      const { code, message } = error as NodeJS.ErrnoException;
      return { ...(code === undefined ? {} : { code }), message };
    }
  });
  port.postMessage({ batch, outcomes } satisfies WriteOutcomes);
});
