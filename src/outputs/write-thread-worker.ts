/**
 * The worker thread of WriteThread: writes each file of a batch (writeThenRename) and answers with
 * how long each took (or why it failed), in the order given.
 */
import { parentPort } from 'node:worker_threads';
import type { WriteBatch, WriteOutcomes } from './write-thread.js';
import { writeThenRename } from './write-then-rename.js';

const port = parentPort!;
port.on('message', ({ batch, writes }: WriteBatch) => {
  const outcomes: WriteOutcomes['outcomes'] = writes.map(([temp, target, data]) => {
    try {
      return writeThenRename(temp, target, data);
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      return { ...(code === undefined ? {} : { code }), message };
    }
  });
  port.postMessage({ batch, outcomes } satisfies WriteOutcomes);
});
