import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, sleep, whenAborted } from '../../src/resilience/backoff.js';

describe('backoffDelay', () => {
  const options = { baseMs: 1_000, capMs: 30_000 };

  it('stays within [ceiling/2, ceiling] where the ceiling doubles from baseMs with each attempt', () => {
    for (const [attempt, ceiling] of [
      [1, 1_000],
      [2, 2_000],
      [3, 4_000],
      [4, 8_000],
      [5, 16_000],
    ] as const) {
      expect(backoffDelay(attempt, { ...options, random: () => 0 })).toBe(ceiling / 2);
      expect(backoffDelay(attempt, { ...options, random: () => 0.5 })).toBe((ceiling * 3) / 4);
      expect(backoffDelay(attempt, { ...options, random: () => 0.999_999 })).toBe(ceiling);
    }
  });

  it('caps the ceiling at capMs, however many attempts', () => {
    expect(backoffDelay(6, { ...options, random: () => 0.999_999 })).toBe(30_000);
    expect(backoffDelay(60, { ...options, random: () => 0.999_999 })).toBe(30_000);
    expect(backoffDelay(60, { ...options, random: () => 0 })).toBe(15_000);
  });

  it('treats attempt 0 or less as the first attempt', () => {
    expect(backoffDelay(0, { ...options, random: () => 0 })).toBe(500);
    expect(backoffDelay(-3, { ...options, random: () => 0 })).toBe(500);
  });

  it('returns whole milliseconds', () => {
    expect(Number.isInteger(backoffDelay(1, { baseMs: 3, capMs: 100, random: () => 0.3 }))).toBe(true);
  });

  it('uses Math.random by default, within the same bounds', () => {
    const spy = vi.spyOn(Math, 'random').mockReturnValue(0.25);
    try {
      expect(backoffDelay(2, options)).toBe(1_250);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('sleep', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Follows a promise's settlement without awaiting it. */
  function track<T>(promise: Promise<T>): { value: T | undefined; settled: boolean } {
    const state: { value: T | undefined; settled: boolean } = { value: undefined, settled: false };
    void promise.then((value) => {
      state.value = value;
      state.settled = true;
    });
    return state;
  }

  it('resolves true once ms have passed, not before', async () => {
    const slept = track(sleep(1_000));
    await vi.advanceTimersByTimeAsync(999);
    expect(slept.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(slept).toEqual({ value: true, settled: true });
  });

  it('resolves true with a signal that never aborts, and removes its abort listener', async () => {
    const controller = new AbortController();
    const slept = track(sleep(500, controller.signal));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(slept.value).toBe(true);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('resolves false at once when the signal aborts, clearing its timer and listener', async () => {
    const controller = new AbortController();
    const slept = track(sleep(60_000, controller.signal));
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(slept).toEqual({ value: false, settled: true });
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('resolves false without a timer or listener when the signal has already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(sleep(60_000, controller.signal)).resolves.toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('leaves no listeners behind after many sleeps on one long-lived signal', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 50; i++) {
      const slept = sleep(10, controller.signal);
      await vi.advanceTimersByTimeAsync(10);
      await expect(slept).resolves.toBe(true);
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('whenAborted', () => {
  it('settles with "aborted" when the signal aborts', async () => {
    const controller = new AbortController();
    const watch = whenAborted(controller.signal);
    let settled = false;
    void watch.promise.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    controller.abort();
    await expect(watch.promise).resolves.toBe('aborted');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('settles at once for a signal that has already aborted; dispose is then harmless', async () => {
    const controller = new AbortController();
    controller.abort();
    const watch = whenAborted(controller.signal);
    await expect(watch.promise).resolves.toBe('aborted');
    expect(() => watch.dispose()).not.toThrow();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('dispose removes its listener, so repeated watches on one signal do not leak', () => {
    const controller = new AbortController();
    for (let i = 0; i < 20; i++) whenAborted(controller.signal).dispose();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    const live = whenAborted(controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    live.dispose();
    live.dispose();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});
