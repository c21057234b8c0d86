import { join } from 'node:path';
import type { LedgerEntry } from '../../src/store/state-store.js';
import { StateStore } from '../../src/store/state-store.js';

export const RUN_ID = 'run-fixture';

function call(itemId: string, project: string, httpStatus: number, costUsd: number, errorCode?: string): LedgerEntry {
  return {
    runId: RUN_ID,
    itemId,
    step: 'brief',
    project,
    model: 'gemini-2.5-flash',
    httpStatus,
    ...(errorCode ? { errorCode } : {}),
    inputTokens: 100,
    outputTokens: 50,
    thoughtsTokens: 0,
    images: 0,
    videoSeconds: 0,
    characters: 0,
    costUsd,
    durationMs: 20,
  };
}

/**
 * A real state file with one step (`brief`) over five items, written through the store's own
 * transitions: a, b done; c failed (message given); d filtered; e pending. Four calls in the ledger.
 */
export function storeWithRun(dir: string, failureMessage = 'reply was not valid JSON'): StateStore {
  const store = StateStore.open(join(dir, '.genbatch', 'job.db'));
  const ids = ['a', 'b', 'c', 'd', 'e'];
  store.upsertItems(
    ids.map((id, ord) => ({ id, ord, line: ord + 2, values: { slug: id, title: `Title ${id}` }, inputHash: `h${id}` })),
    ['brief'],
    RUN_ID,
  );
  store.startRun({ id: RUN_ID, pid: process.pid, host: 'test', options: {} });
  store.completeStep(
    'a',
    'brief',
    { result: { image_prompt: 'a cat', alt_text: 'A cat' }, outputs: [], promptHash: 'p', costUsd: 0.01 },
    call('a', 'proj-a', 200, 0.01),
  );
  store.completeStep(
    'b',
    'brief',
    { result: { image_prompt: 'a dog', alt_text: 'A dog' }, outputs: [], promptHash: 'p', costUsd: 0.02 },
    call('b', 'proj-b', 200, 0.02),
  );
  store.recordCall(call('c', 'proj-a', 429, 0, 'QUOTA_EXHAUSTED'));
  store.finishStep('c', 'brief', 'failed', { code: 'BAD_RESPONSE', message: failureMessage, costUsd: 0.005 }, call('c', 'proj-b', 200, 0.005, 'BAD_RESPONSE'));
  store.finishStep('d', 'brief', 'filtered', { code: 'SAFETY_FILTERED', message: 'The prompt was blocked by the safety filters.' });
  store.endRun(RUN_ID, 'failed_items', 1);
  return store;
}
