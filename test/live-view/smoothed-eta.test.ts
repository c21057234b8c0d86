import { describe, expect, it } from 'vitest';
import { formatEta, SmoothedEta } from '../../src/cli/smoothed-eta.js';

/** Feeds completions second by second (`perSecond[i]` done in second i) and returns the ETA shown after each. */
function shownEtas(eta: SmoothedEta, total: number, perSecond: number[]): number[] {
  let done = 0;
  const shown: number[] = [];
  eta.observe(0, 0);
  perSecond.forEach((n, i) => {
    done += n;
    const now = (i + 1) * 1000;
    eta.observe(done, now);
    shown.push(eta.etaMs(total - done, now) ?? NaN);
  });
  return shown;
}

describe('the smoothed ETA', () => {
  it('does not jump when the pace is bursty: it counts down steadily', () => {
    // 1 item in some seconds, 3 in others (a mean of 2/s), like calls with uneven latency: 600 items.
    const bursts = Array.from({ length: 200 }, (_, i) => (i % 4 < 2 ? 1 : 3));
    const shown = shownEtas(new SmoothedEta(), 600, bursts).slice(20);
    for (let i = 1; i < shown.length; i += 1) {
      const before = shown[i - 1] as number;
      const now = shown[i] as number;
      // Never up by more than a few seconds, never down by much more than the second that passed.
      expect(now - before).toBeLessThan(5_000);
      expect(before - now).toBeLessThan(0.25 * before + 6_000);
    }
    // And it is right: after 100 s at 2/s, the 400 items left take about 200 s.
    const at100 = shown[100 - 21] as number;
    expect(Math.abs(at100 / 1000 - 200)).toBeLessThan(20);
  });

  it('follows a real change of pace within about a time constant', () => {
    const pace = [...Array.from({ length: 60 }, () => 4), ...Array.from({ length: 60 }, () => 1)];
    const shown = shownEtas(new SmoothedEta(20_000), 1000, pace);
    const left = 1000 - 60 * 4 - 60;
    // After a minute at the new pace (1/s), the ETA is near what is left at 1/s.
    expect(Math.abs((shown.at(-1) as number) / 1000 - left)).toBeLessThan(left * 0.3);
  });

  it('is unknown before anything is done, and rounded as a person reads it', () => {
    const eta = new SmoothedEta();
    eta.observe(0, 0);
    eta.observe(0, 5000);
    expect(eta.etaMs(10, 5000)).toBeUndefined();
    expect(formatEta(undefined)).toBe('?');
    expect(formatEta(7_400)).toBe('7s');
    expect(formatEta(37_000)).toBe('35s');
    expect(formatEta(88_000)).toBe('1m30s');
    expect(formatEta(14 * 60_000 + 20_000)).toBe('14m');
    expect(formatEta(2 * 3600_000 + 5 * 60_000)).toBe('2h05m');
  });
});
