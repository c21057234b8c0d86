import { describe, expect, it } from 'vitest';
import { nextDailyReset, quotaDay, quotaDayStart } from '../../src/resilience/quota-day.js';

describe('quota day (midnight Pacific, summer time included)', () => {
  it('ends at 08:00 UTC in winter (PST) and at 07:00 UTC in summer (PDT)', () => {
    expect(nextDailyReset(Date.UTC(2026, 11, 8, 7, 59, 59, 999))).toBe(Date.UTC(2026, 11, 8, 8));
    expect(nextDailyReset(Date.UTC(2026, 11, 8, 8))).toBe(Date.UTC(2026, 11, 9, 8));
    expect(nextDailyReset(Date.UTC(2025, 5, 10, 12))).toBe(Date.UTC(2025, 5, 11, 7));
    expect(nextDailyReset(Date.UTC(2025, 5, 11, 6, 59, 59))).toBe(Date.UTC(2025, 5, 11, 7));
    expect(nextDailyReset(Date.UTC(2025, 5, 11, 7))).toBe(Date.UTC(2025, 5, 12, 7));
  });

  it('names the Pacific date, which is the previous UTC date in the evening', () => {
    expect(quotaDay(Date.UTC(2026, 11, 8, 7, 59))).toBe('2026-12-07');
    expect(quotaDay(Date.UTC(2026, 11, 8, 8, 0))).toBe('2026-12-08');
    expect(quotaDay(Date.UTC(2026, 6, 8, 6, 59))).toBe('2026-07-07');
    expect(quotaDay(Date.UTC(2026, 6, 8, 7, 0))).toBe('2026-07-08');
  });

  it('is 23 hours long when clocks go forward and 25 when they go back', () => {
    // 2026-03-08: PST to PDT at 2 a.m. 2026-11-01: PDT to PST at 2 a.m.
    const spring = Date.UTC(2026, 2, 8, 12);
    expect(quotaDayStart(spring)).toBe(Date.UTC(2026, 2, 8, 8));
    expect(nextDailyReset(spring)).toBe(Date.UTC(2026, 2, 9, 7));
    const autumn = Date.UTC(2026, 10, 1, 12);
    expect(quotaDayStart(autumn)).toBe(Date.UTC(2026, 10, 1, 7));
    expect(nextDailyReset(autumn)).toBe(Date.UTC(2026, 10, 2, 8));
  });
});
