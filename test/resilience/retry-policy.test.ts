import { describe, expect, it } from 'vitest';
import { RetryPolicy } from '../../src/resilience/retry-policy.js';

describe('RetryPolicy', () => {
  const base = { baseMs: 1_000, capMs: 8_000 };

  it('retries until maxAttempts attempts have been used, then stops', () => {
    const policy = new RetryPolicy({ ...base, maxAttempts: 3, random: () => 0 });
    expect(policy.decide(1).retry).toBe(true);
    expect(policy.decide(2).retry).toBe(true);
    expect(policy.decide(3)).toEqual({ retry: false });
    expect(policy.decide(4)).toEqual({ retry: false });
  });

  it('never retries with maxAttempts 1', () => {
    const policy = new RetryPolicy({ ...base, maxAttempts: 1 });
    expect(policy.decide(1)).toEqual({ retry: false });
    expect(policy.decide(1, 100)).toEqual({ retry: false });
  });

  it('waits an exponential backoff with full jitter, within [ceiling/2, ceiling] for injected random values', () => {
    const low = new RetryPolicy({ ...base, maxAttempts: 10, random: () => 0 });
    const high = new RetryPolicy({ ...base, maxAttempts: 10, random: () => 0.999_999 });
    const ceilings = [1_000, 2_000, 4_000, 8_000, 8_000, 8_000];
    ceilings.forEach((ceiling, i) => {
      expect(low.decide(i + 1)).toEqual({ retry: true, delayMs: ceiling / 2 });
      expect(high.decide(i + 1)).toEqual({ retry: true, delayMs: ceiling });
    });
  });

  it('keeps every jittered delay within bounds over a spread of random values', () => {
    let r = 0;
    const policy = new RetryPolicy({ ...base, maxAttempts: 10, random: () => (r = (r + 0.137) % 1) });
    for (let attempt = 1; attempt < 10; attempt++) {
      const ceiling = Math.min(8_000, 1_000 * 2 ** (attempt - 1));
      for (let i = 0; i < 20; i++) {
        const decision = policy.decide(attempt);
        if (!decision.retry) throw new Error('expected a retry');
        expect(decision.delayMs).toBeGreaterThanOrEqual(ceiling / 2);
        expect(decision.delayMs).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  it('honours a server-given retryAfterMs instead of the backoff', () => {
    const policy = new RetryPolicy({ ...base, maxAttempts: 5, random: () => 0 });
    expect(policy.decide(1, 2_500)).toEqual({ retry: true, delayMs: 2_500 });
    expect(policy.decide(4, 0)).toEqual({ retry: true, delayMs: 0 });
  });

  it('caps retryAfterMs at capMs', () => {
    const policy = new RetryPolicy({ ...base, maxAttempts: 5 });
    expect(policy.decide(1, 3_600_000)).toEqual({ retry: true, delayMs: 8_000 });
  });

  it('ignores a negative or non-finite retryAfterMs and backs off instead', () => {
    const policy = new RetryPolicy({ ...base, maxAttempts: 5, random: () => 0 });
    expect(policy.decide(1, -5)).toEqual({ retry: true, delayMs: 500 });
    expect(policy.decide(1, Number.NaN)).toEqual({ retry: true, delayMs: 500 });
  });

  it('does not retry past maxAttempts even with a retryAfterMs', () => {
    const policy = new RetryPolicy({ ...base, maxAttempts: 2 });
    expect(policy.decide(2, 10)).toEqual({ retry: false });
  });

  it('rejects invalid options', () => {
    expect(() => new RetryPolicy({ ...base, maxAttempts: 0 })).toThrow(RangeError);
    expect(() => new RetryPolicy({ ...base, maxAttempts: 1.5 })).toThrow(RangeError);
    expect(() => new RetryPolicy({ maxAttempts: 2, baseMs: -1, capMs: 10 })).toThrow(RangeError);
  });
});
