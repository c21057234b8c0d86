import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TurnBatch } from '../../src/store/turn-batch.js';

/** The one batching helper behind the group commit, the run log and the response cache (fake timers, no sleeping). */
function lines(options: { max?: number; delayMs?: number } = {}): { batch: TurnBatch<string[]>; written: string[][] } {
  const written: string[][] = [];
  const batch = new TurnBatch<string[]>({ empty: () => [], size: (b) => b.length, write: (b) => written.push(b), ...options });
  return { batch, written };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TurnBatch', () => {
  it('writes what one turn of the event loop gathered once, at the next turn', () => {
    const { batch, written } = lines();
    batch.update((b) => b.push('a'));
    batch.update((b) => b.push('b'));
    expect(written).toEqual([]);
    vi.advanceTimersToNextTimer();
    expect(written).toEqual([['a', 'b']]);
    batch.update((b) => b.push('c'));
    vi.runAllTimers();
    expect(written).toEqual([['a', 'b'], ['c']]);
  });

  it('writes a full batch at once, and nothing twice', () => {
    const { batch, written } = lines({ max: 2 });
    batch.update((b) => b.push('a'));
    batch.update((b) => b.push('b'));
    expect(written).toEqual([['a', 'b']]);
    vi.runAllTimers();
    expect(written).toEqual([['a', 'b']]);
  });

  it('with a delay, writes that long after the first write of the batch', () => {
    const { batch, written } = lines({ delayMs: 100 });
    batch.update((b) => b.push('a'));
    vi.advanceTimersByTime(60);
    batch.update((b) => b.push('b'));
    vi.advanceTimersByTime(39);
    expect(written).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(written).toEqual([['a', 'b']]);
  });

  it('flush writes now and cancels the pending write; an empty batch is not written', () => {
    const { batch, written } = lines();
    batch.flush();
    batch.update((b) => b.push('a'));
    batch.flush();
    vi.runAllTimers();
    expect(written).toEqual([['a']]);
  });

  it('a batch put back for a retry keeps its order, and later writes wait for the retry, even past max', () => {
    const { batch, written } = lines({ max: 2 });
    const failed = batch.take();
    failed.push('a', 'b');
    batch.retryIn(250, (queued) => failed.concat(queued));
    expect(batch.retrying).toBe(true);
    batch.update((b) => b.push('c'));
    vi.advanceTimersByTime(249);
    expect(written).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(written).toEqual([['a', 'b', 'c']]);
    expect(batch.retrying).toBe(false);
  });
});
