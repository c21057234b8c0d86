import { describe, expect, it } from 'vitest';
import { runOutcome } from '../../src/engine/run-outcome.js';

const facts = { stopReason: undefined, batchStopped: false, failedNow: 0, failedTotal: 0, strict: false };

describe('runOutcome', () => {
  it('a failure fails the run it happened in; an old one only with --strict', () => {
    expect(runOutcome({ ...facts, failedNow: 1, failedTotal: 1 })).toBe('failed_items');
    expect(runOutcome({ ...facts, failedTotal: 3 })).toBe('finished');
    expect(runOutcome({ ...facts, failedTotal: 3, strict: true })).toBe('failed_items');
  });
  it('a stop or a stopped batch step says so first', () => {
    expect(runOutcome({ ...facts, stopReason: 'budget', failedNow: 2 })).toBe('budget');
    expect(runOutcome({ ...facts, batchStopped: true, failedNow: 2 })).toBe('batch_stopped');
    expect(runOutcome(facts)).toBe('finished');
  });
});
