import { describe, expect, it } from 'vitest';
import { utcDay } from '../../src/coordination/coordinator.js';

describe('utcDay', () => {
  it('names the UTC day of a moment, across midnight in both directions', () => {
    const midnight = Date.UTC(2026, 10, 30);
    expect(utcDay(midnight - 1)).toBe('2026-11-29');
    expect(utcDay(midnight)).toBe('2026-11-30');
    expect(utcDay(midnight + 86_399_999)).toBe('2026-11-30');
    expect(utcDay(midnight + 86_400_000)).toBe('2026-12-01');
    expect(utcDay(midnight - 1)).toBe('2026-11-29');
    expect(utcDay(Date.UTC(2027, 0, 1, 12))).toBe('2027-01-01');
  });
});
