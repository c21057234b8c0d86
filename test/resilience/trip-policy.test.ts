import { describe, expect, it } from 'vitest';
import { ConsecutiveFailures } from '../../src/resilience/trip-policy.js';

describe('ConsecutiveFailures', () => {
  it('with n = 1 trips on the first failure (a 429 cools down at once)', () => {
    const policy = new ConsecutiveFailures(1);
    expect(policy.failure()).toBe(true);
  });

  it('trips on the n-th failure in a row, not before', () => {
    const policy = new ConsecutiveFailures(3);
    expect(policy.failure()).toBe(false);
    expect(policy.failure()).toBe(false);
    expect(policy.failure()).toBe(true);
    expect(policy.count).toBe(3);
  });

  it('starts counting again after a success', () => {
    const policy = new ConsecutiveFailures(2);
    expect(policy.failure()).toBe(false);
    policy.success();
    expect(policy.count).toBe(0);
    expect(policy.failure()).toBe(false);
    expect(policy.failure()).toBe(true);
  });

  it('starts counting again after reset', () => {
    const policy = new ConsecutiveFailures(2);
    policy.failure();
    policy.failure();
    policy.reset();
    expect(policy.count).toBe(0);
    expect(policy.failure()).toBe(false);
  });

  it('rejects a threshold below 1 or not whole', () => {
    expect(() => new ConsecutiveFailures(0)).toThrow(RangeError);
    expect(() => new ConsecutiveFailures(2.5)).toThrow(RangeError);
  });
});
