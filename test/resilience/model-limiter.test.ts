import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LimiterSlot } from '../../src/coordination/model-limiter.js';
import { declaredIntervalMs, ModelLimiter } from '../../src/coordination/model-limiter.js';

/**
 * Bottleneck paces with setTimeout and Date.now (and setInterval for reservoirs); faking those, and
 * the monotonic clock with them (a wall clock that moved alone would be a step, which the limiter
 * follows), lets the tests run its schedule in fake time, without real sleeps or timing assertions.
 * Bottleneck hops through a few setTimeout(0) between scheduling and starting a job, and fake
 * timers (like Node) count each as 1 ms: `settle` lets those hops run (a few fake ms).
 */
const FAKED = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] as const;

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKED], now: 1_700_000_000_000 });
});

afterEach(() => {
  vi.useRealTimers();
});

const settle = (): Promise<unknown> => vi.advanceTimersByTimeAsync(20);

/** A limiter on the tests' clock (the fake Date) unless one is given. */
function limiter(...[quota, now = Date.now, shared]: ConstructorParameters<typeof ModelLimiter>): ModelLimiter {
  return new ModelLimiter(quota, now, shared);
}

/** Starts `count` acquisitions, recording the fake time at which each is granted. */
function acquireMany(l: ModelLimiter, count: number): { startedAt: (number | undefined)[]; slots: (LimiterSlot | undefined)[] } {
  const startedAt: (number | undefined)[] = Array.from({ length: count }, () => undefined);
  const slots: (LimiterSlot | undefined)[] = Array.from({ length: count }, () => undefined);
  for (let i = 0; i < count; i++) {
    void l
      .acquire(0, () => false)
      .then((slot) => {
        startedAt[i] = Date.now();
        slots[i] = slot;
      });
  }
  return { startedAt, slots };
}

function gaps(times: (number | undefined)[]): number[] {
  const defined = times.filter((t): t is number => t !== undefined);
  return defined.slice(1).map((t, i) => t - (defined[i] ?? 0));
}

describe('ModelLimiter (fake timers)', () => {
  it('declaredIntervalMs: rpm 60 spaces starts by a little over a second', () => {
    const interval = declaredIntervalMs({ rpm: 60 }) ?? 0;
    expect(interval).toBeGreaterThan(1_000);
    expect(interval).toBeLessThan(1_100);
    expect(declaredIntervalMs({})).toBeUndefined();
  });

  it('with rpm 60, starts are spaced at least ~1 s apart in fake time (the gap after the first is doubled)', async () => {
    const l = limiter({ rpm: 60 }, () => Date.now());
    const { startedAt, slots } = acquireMany(l, 5);
    await settle();
    expect(startedAt.filter((t) => t !== undefined)).toHaveLength(1);
    slots[0]?.release();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(startedAt.every((t) => t !== undefined)).toBe(true);
    for (const slot of slots) slot?.release();
    const spacing = gaps(startedAt);
    const interval = declaredIntervalMs({ rpm: 60 }) ?? 0;
    expect(spacing[0]).toBeGreaterThanOrEqual(2 * interval - 3);
    for (const gap of spacing.slice(1)) expect(gap).toBeGreaterThanOrEqual(interval - 3);
    // and not much more than needed: the queue drains at the declared pace
    for (const gap of spacing.slice(1)) expect(gap).toBeLessThan(interval + 50);
  });

  it('with concurrency 2, two calls run and the third waits until one releases', async () => {
    const l = limiter({ concurrency: 2 }, () => Date.now());
    const { startedAt, slots } = acquireMany(l, 3);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(startedAt.filter((t) => t !== undefined)).toHaveLength(2);
    expect(startedAt[2]).toBeUndefined();
    const ready = l.ready(); // Bottleneck's check() also hops through a setTimeout(0)
    await settle();
    await expect(ready).resolves.toBe(false);
    slots[0]?.release();
    await settle();
    expect(startedAt[2]).toBeDefined();
    slots[1]?.release();
    slots[2]?.release();
  });

  it('an abandoned waiter gives its place back without starting', async () => {
    const l = limiter({ concurrency: 1 }, () => Date.now());
    const first = acquireMany(l, 1);
    let gone = false;
    let outcome: LimiterSlot | undefined | 'pending' = 'pending';
    void l.acquire(0, () => gone).then((slot) => (outcome = slot));
    await settle();
    gone = true;
    first.slots[0]?.release();
    await settle();
    expect(outcome).toBeUndefined();
    expect(l.queued()).toBe(0);
  });

  /** One call's slot, letting fake time run while the limiter paces it; returns the slot and its start time. */
  async function acquireOne(l: ModelLimiter): Promise<{ slot: LimiterSlot | undefined; at: number }> {
    let granted: { slot: LimiterSlot | undefined; at: number } | undefined;
    void l.acquire(0, () => false).then((slot) => (granted = { slot, at: Date.now() }));
    await Promise.resolve();
    while (!granted) await vi.advanceTimersByTimeAsync(1);
    return granted;
  }

  /** `count` starts at least `gapMs` apart in fake time; returns their start times (slots released at once). */
  async function startSpaced(l: ModelLimiter, count: number, gapMs: number): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const { slot, at } = await acquireOne(l);
      times.push(at);
      slot?.release();
      await vi.advanceTimersByTimeAsync(gapMs);
    }
    return times;
  }

  /** Keeps `l` busy (always a call waiting) while fake time runs: the start times, and how to stop. */
  function keepBusy(l: ModelLimiter): { times: number[]; stop: () => Promise<void> } {
    const times: number[] = [];
    let stopped = false;
    const worker = async (): Promise<void> => {
      while (!stopped) {
        const slot = await l.acquire(0, () => stopped);
        if (!slot) return;
        times.push(Date.now());
        slot.release();
      }
    };
    const workers = [worker(), worker(), worker()];
    return {
      times,
      stop: async () => {
        stopped = true;
        await vi.advanceTimersByTimeAsync(1_000);
        await Promise.all(workers);
      },
    };
  }

  it('learned pacing: a 429 makes the starts its window held the limit, and paces at window / limit', async () => {
    const l = limiter({}, () => Date.now());
    expect(l.learnedQuota).toBeUndefined();
    // Unpaced until the first 429: thirteen starts 8 ms apart; the quota (10 per 1 s) refuses the last three.
    const starts = await startSpaced(l, 13, 8);
    l.rejected(starts[10], { windowMs: 1000 });
    expect(l.learnedQuota).toEqual({ limit: 10, windowMs: 1000 });
    expect(l.learnedInterval).toBe(declaredIntervalMs({ requests: 10, windowMs: 1000 }));
    // The other 429s of the wave (sent before it was learned) change nothing: their counts are no lower.
    l.rejected(starts[11], { windowMs: 1000 });
    l.rejected(starts[12], { windowMs: 1000 });
    expect(l.learnedQuota).toEqual({ limit: 10, windowMs: 1000 });
    // Starts are now spaced at the learned interval (Bottleneck reserves a gap a hop or two early: allow 3 ms).
    const { startedAt, slots } = acquireMany(l, 4);
    await vi.advanceTimersByTimeAsync(2_000);
    slots.forEach((s) => s?.release());
    expect(startedAt.every((t) => t !== undefined)).toBe(true);
    for (const gap of gaps(startedAt)) expect(gap).toBeGreaterThanOrEqual((l.learnedInterval ?? 0) - 3);
  });

  it('learned pacing keeps the learned spacing after a start that ran late (Bottleneck schedules from its own times)', async () => {
    // The limiter's clock: its first paced start is taken 40 ms late (a busy event loop between
    // Bottleneck's timer and the start), which Bottleneck's schedule does not see.
    let lateUntil = 0;
    const l = limiter({}, () => Date.now() + (Date.now() <= lateUntil ? 40 : 0));
    const starts = await startSpaced(l, 11, 5);
    l.rejected(starts[10], { windowMs: 1000 });
    const interval = l.learnedInterval ?? 0;
    lateUntil = Date.now() + 2;
    const { startedAt, slots } = acquireMany(l, 3);
    await vi.advanceTimersByTimeAsync(2_000);
    slots.forEach((s) => s?.release());
    expect(startedAt.every((t) => t !== undefined)).toBe(true);
    // The second start keeps the spacing from the first one's real (late) start.
    const [second, third] = gaps(startedAt);
    expect(second).toBeGreaterThanOrEqual(40 + interval - 3);
    expect(third).toBeGreaterThanOrEqual(interval - 3);
  });

  it('learned pacing: a 429 when none of our calls in its window got through teaches nothing (the window was full of others)', async () => {
    const l = limiter({}, () => Date.now());
    const [first] = await startSpaced(l, 1, 10);
    l.rejected(first, { windowMs: 60_000, retryAfterMs: 30_000 });
    expect(l.learnedQuota).toBeUndefined();
    // Still unpaced: the project's cooldown did the waiting; the next 429 will count.
    const burst = acquireMany(l, 3);
    await settle();
    expect(burst.startedAt.every((t) => t !== undefined)).toBe(true);
    burst.slots.forEach((s) => s?.release());
  });

  it('learned pacing: the window is a minute unless the 429 names another; a stated limit is taken as is', async () => {
    const minute = limiter({}, () => Date.now());
    const starts = await startSpaced(minute, 21, 1_000);
    minute.rejected(starts[20]);
    expect(minute.learnedQuota).toEqual({ limit: 20, windowMs: 60_000 });
    expect(minute.learnedInterval).toBeGreaterThan(3_000);

    const stated = limiter({}, () => Date.now());
    const few = await startSpaced(stated, 3, 10);
    stated.rejected(few[2], { windowMs: 60_000, limit: 15 });
    expect(stated.learnedQuota).toEqual({ limit: 15, windowMs: 60_000 });
  });

  it('learned pacing: a slot given back unsent is not counted as a start', async () => {
    const l = limiter({}, () => Date.now());
    for (let i = 0; i < 6; i++) {
      const { slot } = await acquireOne(l);
      // Every other slot is given back without its call being sent (the project was cooling down).
      slot?.release(undefined, i % 2 === 0);
      await vi.advanceTimersByTimeAsync(10);
    }
    const refused = await acquireOne(l);
    refused.slot?.release();
    l.rejected(refused.at, { windowMs: 1000 });
    expect(l.learnedQuota?.limit).toBe(3);
  });

  it('learned pacing probes one more call per window after 8 quiet windows, and a 429 answering the probe takes it back', async () => {
    const l = limiter({}, () => Date.now());
    const starts = await startSpaced(l, 11, 5);
    // RetryInfo: the window's oldest call leaves it 1 s after our first start, so it held only ours.
    l.rejected(starts[10], { windowMs: 1000, retryAfterMs: (starts[0] ?? 0) + 1000 - Date.now() });
    expect(l.learnedQuota?.limit).toBe(10);
    const learnedAt = Date.now();
    // Busy at the learned pace: no probe before 8 windows, then one more call per window.
    const busy = keepBusy(l);
    await vi.advanceTimersByTimeAsync(7_500);
    expect(l.learnedQuota?.limit).toBe(10);
    const perWindow = busy.times.filter((t) => t > learnedAt + 1_000 && t <= learnedAt + 7_000).length / 6;
    expect(perWindow).toBeGreaterThan(9);
    expect(perWindow).toBeLessThanOrEqual(10);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(l.learnedQuota?.limit).toBe(11);
    // The probe's extra call is refused, and its count comes out one short (the window's edge: our
    // clock is not Vertex's; here its send time is read 1 ms early): the limit goes back to the 10
    // that held, not to 9.
    await vi.advanceTimersByTimeAsync(1_500);
    const sentAt = (busy.times.at(-1) ?? 0) - 1;
    expect(busy.times.filter((t) => t > sentAt - 1000 && t <= sentAt)).toHaveLength(10);
    l.rejected(sentAt, { windowMs: 1000 });
    expect(l.learnedQuota?.limit).toBe(10);
    // The next probe waits twice as long (16 windows).
    await vi.advanceTimersByTimeAsync(15_000);
    expect(l.learnedQuota?.limit).toBe(10);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(l.learnedQuota?.limit).toBe(11);
    await busy.stop();
  });

  it("learned pacing: a 429 whose window began before this run's calls gives a floor, doubled each window until a 429 counts a whole window", async () => {
    const l = limiter({}, () => Date.now());
    // A run just before this one left calls in the window: the 4th call is refused, and RetryInfo
    // says the window's oldest call leaves it in 200 ms (it was sent 800 ms ago, before our first).
    const starts = await startSpaced(l, 4, 10);
    l.rejected(starts[3], { windowMs: 1000, retryAfterMs: 200 });
    expect(l.learnedQuota).toEqual({ limit: 3, windowMs: 1000 });
    const busy = keepBusy(l);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(l.learnedQuota?.limit).toBe(6);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(l.learnedQuota?.limit).toBe(12);
    // At 12 per window the quota (10, say) refuses a call: its window is now all ours, and its count is the limit.
    await vi.advanceTimersByTimeAsync(700);
    const sentAt = busy.times.at(-1) ?? 0;
    const counted = busy.times.filter((t) => t > sentAt - 1000 && t < sentAt).length;
    l.rejected(sentAt, { windowMs: 1000 });
    expect(l.learnedQuota?.limit).toBe(counted);
    expect(counted).toBeGreaterThanOrEqual(6);
    // A whole window's count: the next probe waits 8 windows (one more call, not twice as many).
    await vi.advanceTimersByTimeAsync(7_000);
    expect(l.learnedQuota?.limit).toBe(counted);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(l.learnedQuota?.limit).toBe(counted + 1);
    await busy.stop();
  });

  it("learned pacing: a 429 at the learned pace one short of the limit is the window's edge once; a second within the probe wait lowers it", async () => {
    const l = limiter({}, () => Date.now());
    const starts = await startSpaced(l, 11, 5);
    l.rejected(starts[10], { windowMs: 1000, retryAfterMs: (starts[0] ?? 0) + 1000 - Date.now() });
    const busy = keepBusy(l);
    await vi.advanceTimersByTimeAsync(3_000);
    // A call refused at the learned pace: its window (itself included) holds 10 of our starts, so 9
    // got through, one short of the limit: the margin's doing, or arrival jitter, not less room.
    const edge = (): number => {
      const sentAt = busy.times.at(-1) ?? 0;
      expect(busy.times.filter((t) => t > sentAt - 1000 && t <= sentAt)).toHaveLength(10);
      return sentAt;
    };
    l.rejected(edge(), { windowMs: 1000 });
    expect(l.learnedQuota?.limit).toBe(10);
    await vi.advanceTimersByTimeAsync(2_000);
    l.rejected(edge(), { windowMs: 1000 });
    expect(l.learnedQuota?.limit).toBe(9);
    await busy.stop();
  });

  it('learned pacing does not probe while the pace holds nothing back, and a later wave can only lower the limit', async () => {
    const l = limiter({}, () => Date.now());
    const starts = await startSpaced(l, 11, 5);
    l.rejected(starts[10], { windowMs: 1000, retryAfterMs: (starts[0] ?? 0) + 1000 - Date.now() });
    // Twenty quiet windows with a call now and then: the limit is not what holds calls back.
    await startSpaced(l, 10, 2_000);
    expect(l.learnedQuota?.limit).toBe(10);
    // Another run starts on the project: a 429 after 4 calls in its window.
    const fewer = await startSpaced(l, 5, 150);
    l.rejected(fewer[4], { windowMs: 1000 });
    expect(l.learnedQuota?.limit).toBe(4);
  });

  it('a declared rate is never changed by learning', () => {
    const l = limiter({ rpm: 60 }, () => Date.now());
    l.rejected();
    l.succeeded();
    expect(l.learnedInterval).toBeUndefined();
  });

  it('update() applies new limits to waiting calls', async () => {
    const l = limiter({ concurrency: 1 }, () => Date.now());
    const { startedAt, slots } = acquireMany(l, 2);
    await settle();
    expect(startedAt[1]).toBeUndefined();
    l.update({ concurrency: 2 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(startedAt[1]).toBeDefined();
    slots.forEach((s) => s?.release());
  });

  it('stop() resolves once the calls in flight have released their slots', async () => {
    const l = limiter({ concurrency: 1 }, () => Date.now());
    const { slots } = acquireMany(l, 1);
    await settle();
    let stopped = false;
    void l.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    slots[0]?.release();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(stopped).toBe(true);
  });
});
