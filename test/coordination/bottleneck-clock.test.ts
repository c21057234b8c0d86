import Bottleneck from 'bottleneck';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { followWallClockSteps } from '../../src/coordination/bottleneck-clock.js';

// Fake clocks: timers, the wall clock (Date) and the monotonic one (performance) advance together;
// setting the system time moves the wall clock alone, as an NTP step does.
afterEach(() => {
  vi.useRealTimers();
});

async function startsWithin(limiter: Bottleneck, ms: number): Promise<boolean> {
  let started = false;
  // A job still waiting when the test stops the limiter is dropped.
  limiter
    .schedule(async () => {
      started = true;
    })
    .catch(() => undefined);
  await vi.advanceTimersByTimeAsync(ms);
  return started;
}

describe('a local Bottleneck limiter across a wall-clock step', () => {
  for (const follow of [false, true]) {
    it(`${follow ? 'following steps' : 'as Bottleneck paces alone'}: a start after a 10 min step back ${follow ? 'keeps its 100 ms spacing' : 'waits the 10 min'}`, async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'], now: Date.UTC(2026, 11, 7, 12) });
      const limiter = new Bottleneck({ minTime: 100, maxConcurrent: 1 });
      const unfollow = follow ? followWallClockSteps(limiter) : () => undefined;
      expect(await startsWithin(limiter, 10)).toBe(true);
      vi.setSystemTime(Date.now() - 10 * 60_000);
      expect(await startsWithin(limiter, 200)).toBe(follow);
      unfollow();
      await limiter.stop({ dropWaitingJobs: true }).catch(() => undefined);
    });
  }

  it('a token reservoir refreshes a minute after its last refresh, not a minute plus the step', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'], now: Date.UTC(2026, 11, 7, 12) });
    const limiter = new Bottleneck({ reservoir: 1, reservoirRefreshAmount: 1, reservoirRefreshInterval: 60_000 });
    const unfollow = followWallClockSteps(limiter);
    expect(await startsWithin(limiter, 10)).toBe(true);
    vi.setSystemTime(Date.now() - 10 * 60_000);
    expect(await startsWithin(limiter, 62_000)).toBe(true);
    unfollow();
    await limiter.stop({ dropWaitingJobs: true }).catch(() => undefined);
  });
});
