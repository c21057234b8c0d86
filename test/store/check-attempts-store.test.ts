import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateStore, type LedgerEntry } from '../../src/store/state-store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

const call = (itemId: string, costUsd: number): LedgerEntry => ({
  runId: 'r1',
  itemId,
  step: 'blurb',
  project: 'p1',
  model: 'gemini-2.5-flash',
  httpStatus: 200,
  inputTokens: 5,
  outputTokens: 10,
  thoughtsTokens: 0,
  images: 0,
  videoSeconds: 0,
  characters: 0,
  costUsd,
  durationMs: 7,
});

describe('the store of check verdicts and regenerations (schema 12)', () => {
  it('a regeneration keeps the replaced output, books its call and counts it in one transaction; a reopened file still has the count', () => {
    const file = join(tempDir(), 'job.db');
    let store = StateStore.open(file);
    store.upsertItems([{ id: 'a', ord: 0, line: 2, values: {}, inputHash: 'h' }], ['blurb'], 'r1');
    const failed = [{ check: 'words', passed: false, reason: '3 words, at least 50' }];
    store.markRunning('a', 'blurb', 'r1', 'p1');
    store.regenerateStep('a', 'blurb', { result: { text: 'too short' }, outputs: [], checks: failed, costUsd: 0.01 }, call('a', 0.01), 'r1');
    store.close();

    store = StateStore.open(file);
    const [row] = store.itemSteps('a');
    expect(row).toMatchObject({ state: 'pending', checkAttempts: 1, checkDraws: 1, noCache: true, checks: failed, errorCode: 'CHECKS_FAILED' });
    expect(store.checkAttempts('a', 'blurb')).toMatchObject([{ attempt: 1, result: { text: 'too short' }, checks: failed, costUsd: 0.01 }]);
    expect(store.ledger.costRows().reduce((a, r) => a + r.cost_usd, 0)).toBeCloseTo(0.01);

    store.markRunning('a', 'blurb', 'r2', 'p1');
    store.completeStep('a', 'blurb', { result: { text: 'long enough' }, outputs: [], promptHash: 'x', costUsd: 0.01 }, undefined, 'r2');
    store.setChecks('a', 'blurb', [{ check: 'words', passed: true }], 'regenerated');
    expect(store.steps.checkCounts()).toEqual({ words: { passed: 1, failed: 0 } });
    expect(store.steps.checkOutcomes()).toEqual({ blurb: { regenerated: 1 } });
    // A retry starts a new round of regenerations; the draws (the seed's offset) go on.
    store.resetSteps(['a'], ['blurb'], ['done']);
    expect(store.itemSteps('a')[0]).toMatchObject({ checkAttempts: 0, checkDraws: 1, checkOutcome: null });
    store.close();
  });
});
