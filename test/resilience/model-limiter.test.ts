import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LimiterSlot } from '../../src/credentials/model-limiter.js';
import { declaredIntervalMs, ModelLimiter } from '../../src/credentials/model-limiter.js';

/**
 * Bottleneck paces with setTimeout and Date.now (and setInterval for reservoirs); faking exactly
 * those lets the tests run its schedule in fake time, without real sleeps or timing assertions.
 * Bottleneck hops through a few setTimeout(0) between scheduling and starting a job, and fake
 * timers (like Node) count each as 1 ms: `settle` lets those hops run (a few fake ms).
 */
const FAKED = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const;

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKED], now: 1_700_000_000_000 });
});

afterEach(() => {
  vi.useRealTimers();
});

const settle = (): Promise<unknown> => vi.advanceTimersByTimeAsync(20);

function limiter(...args: ConstructorParameters<typeof ModelLimiter>): ModelLimiter {
  return new ModelLimiter(...args);
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

  it('learned pacing: rejected() lengthens the interval (once per wave), succeeded() shortens it', async () => {
    const l = limiter({}, () => Date.now());
    expect(l.learnedInterval).toBeUndefined();
    // Without a declared rate, starts are not spaced at all.
    const burst = acquireMany(l, 3);
    await settle();
    expect(burst.startedAt.every((t) => t !== undefined)).toBe(true);
    burst.slots.forEach((s) => s?.release());

    const waveStart = Date.now();
    await vi.advanceTimersByTimeAsync(100);
    l.rejected(waveStart);
    const first = l.learnedInterval ?? 0;
    expect(first).toBeGreaterThanOrEqual(5);
    // A 429 from a call already on the wire when the wave began does not slow down again.
    l.rejected(waveStart);
    expect(l.learnedInterval).toBe(first);
    // A 429 from a later call does: 1.25x.
    l.rejected(Date.now());
    expect(l.learnedInterval).toBeCloseTo(first * 1.25, 6);
    const slowed = l.learnedInterval ?? 0;
    l.succeeded();
    expect(l.learnedInterval).toBeCloseTo(slowed * 0.98, 6);
    l.succeeded();
    expect(l.learnedInterval).toBeLessThan(slowed * 0.98);
  });

  it('learned pacing starts from the spacing of recent starts and then paces starts in fake time', async () => {
    const l = limiter({}, () => Date.now());
    // Three starts about 400 ms apart.
    const starts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { slots, startedAt } = acquireMany(l, 1);
      await settle();
      starts.push(startedAt[0] ?? Number.NaN);
      slots[0]?.release();
      if (i < 2) await vi.advanceTimersByTimeAsync(400);
    }
    const observed = ((starts[2] ?? 0) - (starts[0] ?? 0)) / 2;
    expect(observed).toBeGreaterThanOrEqual(400);
    expect(observed).toBeLessThan(450);
    l.rejected();
    expect(l.learnedInterval).toBeCloseTo(observed * 1.25, 6);
    const { startedAt, slots } = acquireMany(l, 3);
    await vi.advanceTimersByTimeAsync(5_000);
    slots.forEach((s) => s?.release());
    // Bottleneck reserves the gap when it registers a job, a hop or two (fake ms) before the job runs: allow 3 ms.
    for (const gap of gaps(startedAt)) expect(gap).toBeGreaterThanOrEqual(observed * 1.25 - 3);
    expect(startedAt.every((t) => t !== undefined)).toBe(true);
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
