import { describe, expect, it } from 'vitest';
import { StallWatch } from '../../src/resilience/stall-watch.js';

const T0 = 1_700_000_000_000;
const MAX_STALL = 10_000;

/** A watch on an injected clock: time only moves when the test says so. */
function setup(maxStallMs = MAX_STALL) {
  const clock = { t: T0 };
  const watch = new StallWatch(maxStallMs, () => clock.t);
  return { clock, watch, advance: (ms: number) => (clock.t += ms) };
}

describe('StallWatch: episodes', () => {
  it('nothing is stalled before the scheduler observes that nothing can move', () => {
    const { watch, advance } = setup();
    advance(MAX_STALL * 5);
    expect(watch.stalledForMs()).toBe(0);
    expect(watch.expired()).toBe(false);
    expect(watch.deadline()).toBeUndefined();
    // Observing that something can move starts nothing either.
    watch.observe(false);
    advance(MAX_STALL * 5);
    expect(watch.stalledForMs()).toBe(0);
    expect(watch.expired()).toBe(false);
    expect(watch.deadline()).toBeUndefined();
  });

  it('an episode starts at the first observe(true): stalledForMs counts from there, deadline is start + maxStallMs', () => {
    const { watch, advance } = setup();
    advance(1_234); // time before the episode does not count
    watch.observe(true);
    expect(watch.stalledForMs()).toBe(0);
    expect(watch.deadline()).toBe(T0 + 1_234 + MAX_STALL);
    advance(4_000);
    expect(watch.stalledForMs()).toBe(4_000);
    expect(watch.expired()).toBe(false);
  });

  it('expired() is false one ms before the deadline and true at it', () => {
    const { watch, clock } = setup();
    watch.observe(true);
    clock.t = T0 + MAX_STALL - 1;
    expect(watch.expired()).toBe(false);
    expect(watch.stalledForMs()).toBe(MAX_STALL - 1);
    clock.t = T0 + MAX_STALL;
    expect(watch.expired()).toBe(true);
    expect(watch.stalledForMs()).toBe(MAX_STALL);
    clock.t = T0 + MAX_STALL * 3;
    expect(watch.expired()).toBe(true);
  });

  it('a probe that is refused again (observe(true) repeated) does not restart the clock', () => {
    const { watch, advance } = setup();
    watch.observe(true);
    for (let i = 0; i < 9; i++) {
      advance(1_000);
      watch.observe(true); // every dispatch round says "still nothing can move"
    }
    expect(watch.stalledForMs()).toBe(9_000);
    expect(watch.deadline()).toBe(T0 + MAX_STALL);
    advance(1_000);
    watch.observe(true);
    expect(watch.expired()).toBe(true);
  });

  it('observe(false) (something can move again) does not end an episode: only progress does', () => {
    const { watch, advance } = setup();
    watch.observe(true);
    advance(6_000);
    // A probe was let through: something can move, but nothing has progressed yet.
    watch.observe(false);
    expect(watch.stalledForMs()).toBe(6_000);
    advance(2_000);
    // The probe was refused (another 429): still the same episode.
    watch.observe(true);
    expect(watch.stalledForMs()).toBe(8_000);
    expect(watch.deadline()).toBe(T0 + MAX_STALL);
    advance(2_000);
    expect(watch.expired()).toBe(true);
  });

  it('progress ends the episode; the next observe(true) starts a fresh one', () => {
    const { watch, advance, clock } = setup();
    watch.observe(true);
    advance(9_000);
    watch.progressed();
    expect(watch.stalledForMs()).toBe(0);
    expect(watch.deadline()).toBeUndefined();
    advance(5_000);
    expect(watch.expired()).toBe(false);
    watch.observe(true);
    const restartedAt = clock.t;
    expect(watch.deadline()).toBe(restartedAt + MAX_STALL);
    advance(MAX_STALL - 1);
    expect(watch.expired()).toBe(false);
    advance(1);
    expect(watch.expired()).toBe(true);
  });

  it('progress of one lane also ends the episode', () => {
    const { watch, advance } = setup();
    watch.block('images/imagen', T0 + 60_000, 'every project is cooling down');
    watch.observe(true);
    advance(MAX_STALL);
    expect(watch.expired()).toBe(true);
    watch.progressed('text/gemini');
    expect(watch.expired()).toBe(false);
    expect(watch.stalledForMs()).toBe(0);
    // The other lane is still blocked: progress elsewhere does not unblock it.
    expect(watch.isBlocked('images/imagen')).toBe(true);
  });

  it('a zero maxStallMs expires as soon as an episode starts', () => {
    const { watch } = setup(0);
    expect(watch.expired()).toBe(false);
    watch.observe(true);
    expect(watch.expired()).toBe(true);
  });
});

describe('StallWatch: lanes', () => {
  it('block() records the lane with its expected return and reason', () => {
    const { watch } = setup();
    expect(watch.isBlocked('images/imagen')).toBe(false);
    expect(watch.lanes()).toEqual([]);
    watch.block('images/imagen', T0 + 30_000, 'every project is cooling down');
    expect(watch.isBlocked('images/imagen')).toBe(true);
    expect(watch.lanes()).toEqual([{ key: 'images/imagen', since: T0, expectedBackAt: T0 + 30_000, reason: 'every project is cooling down' }]);
  });

  it('repeated block() keeps `since` but updates expectedBackAt and reason', () => {
    const { watch, advance } = setup();
    watch.block('images/imagen', T0 + 30_000, 'every project is cooling down');
    advance(30_000);
    // The cooldown ended, a probe is out: no known return time.
    watch.block('images/imagen', undefined, 'waiting for a probe');
    advance(1_000);
    // The probe got a 429: cooling down again, for longer.
    watch.block('images/imagen', T0 + 91_000, 'every project is cooling down');
    expect(watch.lanes()).toEqual([{ key: 'images/imagen', since: T0, expectedBackAt: T0 + 91_000, reason: 'every project is cooling down' }]);
  });

  it('expectedBackAt is undefined while a probe is out (unknown return)', () => {
    const { watch } = setup();
    watch.block('text/gemini', undefined, 'waiting for a probe');
    const [lane] = watch.lanes();
    expect(lane?.expectedBackAt).toBeUndefined();
    expect(lane?.reason).toBe('waiting for a probe');
  });

  it('unblock() forgets the lane; blocked again later, `since` starts over', () => {
    const { watch, advance, clock } = setup();
    watch.block('images/imagen', T0 + 30_000, 'cooling');
    advance(30_000);
    watch.unblock('images/imagen');
    expect(watch.isBlocked('images/imagen')).toBe(false);
    expect(watch.lanes()).toEqual([]);
    advance(5_000);
    watch.block('images/imagen', clock.t + 60_000, 'cooling again');
    expect(watch.lanes()[0]?.since).toBe(T0 + 35_000);
  });

  it('unblock() of a lane does not end the episode (it has not yet succeeded)', () => {
    const { watch, advance } = setup();
    watch.block('images/imagen', T0 + 5_000, 'cooling');
    watch.observe(true);
    advance(5_000);
    watch.unblock('images/imagen');
    expect(watch.stalledForMs()).toBe(5_000);
    advance(5_000);
    expect(watch.expired()).toBe(true);
  });

  it('progressed(key) unblocks that lane only; lanes are tracked independently', () => {
    const { watch, advance } = setup();
    watch.block('text/gemini', T0 + 10_000, 'cooling');
    advance(2_000);
    watch.block('images/imagen', T0 + 60_000, 'out of its daily quota');
    expect(watch.lanes().map((l) => [l.key, l.since])).toEqual([
      ['text/gemini', T0],
      ['images/imagen', T0 + 2_000],
    ]);
    watch.progressed('text/gemini');
    expect(watch.isBlocked('text/gemini')).toBe(false);
    expect(watch.lanes()).toEqual([{ key: 'images/imagen', since: T0 + 2_000, expectedBackAt: T0 + 60_000, reason: 'out of its daily quota' }]);
  });

  it('progressed() without a key keeps every blocked lane', () => {
    const { watch } = setup();
    watch.block('a/m', undefined, 'x');
    watch.block('b/m', undefined, 'y');
    watch.progressed();
    expect(watch.lanes().map((l) => l.key)).toEqual(['a/m', 'b/m']);
  });

  it('lanes() returns copies: mutating the result does not change the watch', () => {
    const { watch } = setup();
    watch.block('a/m', T0 + 1, 'x');
    const lanes = watch.lanes();
    lanes.pop();
    expect(watch.lanes()).toHaveLength(1);
  });
});
