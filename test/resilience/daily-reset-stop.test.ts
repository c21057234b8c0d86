import { describe, expect, it } from 'vitest';
import { stopsForDailyReset } from '../../src/resilience/daily-reset-stop.js';
import type { BlockedLane } from '../../src/resilience/stall-watch.js';

const MIN = 60_000;
const lane = (key: string, backInMs: number | undefined, daily: boolean): BlockedLane => ({
  key,
  since: 0,
  expectedBackAt: backInMs === undefined ? undefined : 1_000_000 + backInMs,
  reason: daily ? 'every project is out of its daily quota' : 'every project is cooling down',
  ...(daily ? { daily } : {}),
});

describe('stopsForDailyReset', () => {
  const now = 1_000_000;
  it('stops when every waiting lane waits on a daily reset further than max_stall', () => {
    expect(
      stopsForDailyReset(['a', 'b'], [lane('a', 6 * 60 * MIN, true), lane('b', 2 * 60 * MIN, true)], now, { maxStallMs: 30 * MIN, stalledForMs: 5000 }),
    ).toBe(true);
  });
  it('waits until nothing has moved for a few seconds: an rpd can look reached for a moment around midnight', () => {
    expect(stopsForDailyReset(['a'], [lane('a', 6 * 60 * MIN, true)], now, { maxStallMs: 30 * MIN, stalledForMs: 4000 })).toBe(false);
    expect(stopsForDailyReset(['a'], [lane('a', 6 * 60 * MIN, true)], now, { maxStallMs: 2000, stalledForMs: 2000 })).toBe(true);
  });
  it('waits when a reset is within max_stall, a lane only cools down, a reset is unknown or a lane is not blocked', () => {
    expect(stopsForDailyReset(['a'], [lane('a', 10 * MIN, true)], now, { maxStallMs: 30 * MIN, stalledForMs: 5000 })).toBe(false);
    expect(stopsForDailyReset(['a', 'b'], [lane('a', 6 * 60 * MIN, true), lane('b', 60 * MIN, false)], now, { maxStallMs: 30 * MIN, stalledForMs: 5000 })).toBe(
      false,
    );
    expect(stopsForDailyReset(['a'], [lane('a', undefined, true)], now, { maxStallMs: 30 * MIN, stalledForMs: 5000 })).toBe(false);
    expect(stopsForDailyReset(['a', 'b'], [lane('a', 6 * 60 * MIN, true)], now, { maxStallMs: 30 * MIN, stalledForMs: 5000 })).toBe(false);
    expect(stopsForDailyReset([], [], now, { maxStallMs: 30 * MIN, stalledForMs: 5000 })).toBe(false);
  });
});
