import { describe, expect, it } from 'vitest';
import { CooldownBreaker, type BreakerState, type CooldownBreakerOptions, type SavedBreaker } from '../../src/resilience/cooldown-breaker.js';
import { ConsecutiveFailures } from '../../src/resilience/trip-policy.js';

const T0 = 1_700_000_000_000;
const BASE = 30_000;
const CAP = 600_000;

/** A breaker on an injected clock: time only moves when the test says so. */
function setup(options: Partial<CooldownBreakerOptions> = {}) {
  const clock = { t: T0 };
  const changes: BreakerState[] = [];
  const breaker = new CooldownBreaker({ now: () => clock.t, onChange: (state) => changes.push(state), ...options });
  return { clock, changes, breaker, advance: (ms: number) => (clock.t += ms) };
}

const quota = { reason: 'quota exhausted (429)' };

describe('CooldownBreaker: closed and open', () => {
  it('starts closed: calls pass, not as probes, with nothing to save or wait for', () => {
    const { breaker } = setup();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryPass()).toEqual({ probe: false });
    expect(breaker.tryPass()).toEqual({ probe: false });
    expect(breaker.until).toBeUndefined();
    expect(breaker.reason).toBeUndefined();
    expect(breaker.save()).toBeUndefined();
    expect(breaker.nextChangeAt()).toBeUndefined();
  });

  it('a failure opens it for baseMs: nothing passes until then', () => {
    const { breaker, clock } = setup();
    expect(breaker.failure(quota)).toBe(T0 + BASE);
    expect(breaker.state).toBe('open');
    expect(breaker.until).toBe(T0 + BASE);
    expect(breaker.reason).toBe('quota exhausted (429)');
    expect(breaker.nextChangeAt()).toBe(T0 + BASE);
    expect(breaker.tryPass()).toBeUndefined();
    clock.t = T0 + BASE - 1;
    expect(breaker.state).toBe('open');
    expect(breaker.tryPass()).toBeUndefined();
  });

  it('uses the server-given retryAfterMs instead of the computed cooldown, even beyond capMs', () => {
    const { breaker } = setup();
    expect(breaker.failure({ ...quota, retryAfterMs: 3_600_000 })).toBe(T0 + 3_600_000);
    expect(breaker.until).toBe(T0 + 3_600_000);
  });

  it('honours baseMs and capMs options', () => {
    const { breaker, clock } = setup({ baseMs: 1_000, capMs: 3_000 });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const until = breaker.failure(quota);
      delays.push(until - clock.t);
      clock.t = until;
      expect(breaker.tryPass()).toEqual({ probe: true });
    }
    expect(delays).toEqual([1_000, 2_000, 3_000, 3_000]);
  });

  it('rejects invalid options', () => {
    expect(() => new CooldownBreaker({ now: () => 0, baseMs: 0 })).toThrow(RangeError);
    expect(() => new CooldownBreaker({ now: () => 0, baseMs: 10, capMs: 5 })).toThrow(RangeError);
  });
});

describe('CooldownBreaker: half-open probe', () => {
  it('after the cooldown, lets exactly one probe through; a second tryPass during the probe is refused', () => {
    const { breaker, clock } = setup();
    breaker.failure(quota);
    clock.t = T0 + BASE;
    expect(breaker.state).toBe('half_open');
    expect(breaker.until).toBeUndefined();
    expect(breaker.nextChangeAt()).toBeUndefined();
    expect(breaker.reason).toBe('quota exhausted (429)');
    expect(breaker.tryPass()).toEqual({ probe: true });
    expect(breaker.probeInFlight).toBe(true);
    expect(breaker.tryPass()).toBeUndefined();
    expect(breaker.tryPass()).toBeUndefined();
  });

  it('a successful probe closes it, and the next cooldown starts again from baseMs', () => {
    const { breaker, clock } = setup();
    breaker.failure(quota);
    clock.t = T0 + BASE;
    breaker.tryPass();
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.reason).toBeUndefined();
    expect(breaker.probeInFlight).toBe(false);
    expect(breaker.trips).toBe(0);
    expect(breaker.tryPass()).toEqual({ probe: false });
    expect(breaker.failure(quota)).toBe(clock.t + BASE);
  });

  it('a failed probe re-opens it with the doubled cooldown, up to capMs', () => {
    const { breaker, clock } = setup();
    const delays: number[] = [];
    let until = breaker.failure(quota);
    delays.push(until - clock.t);
    for (let i = 0; i < 6; i++) {
      clock.t = until;
      expect(breaker.tryPass()).toEqual({ probe: true });
      until = breaker.failure({ ...quota, startedAt: clock.t });
      delays.push(until - clock.t);
      expect(breaker.state).toBe('open');
      expect(breaker.probeInFlight).toBe(false);
    }
    expect(delays).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
  });

  it('a failed probe with a Retry-After re-opens for that long (and still counts as a trip)', () => {
    const { breaker, clock } = setup();
    breaker.failure(quota);
    clock.t = T0 + BASE;
    breaker.tryPass();
    expect(breaker.failure({ ...quota, retryAfterMs: 5_000 })).toBe(clock.t + 5_000);
    clock.t += 5_000;
    breaker.tryPass();
    expect(breaker.failure(quota)).toBe(clock.t + 4 * BASE);
  });

  it('probeEnded (neither success nor quota failure) lets another probe pass', () => {
    const { breaker, clock, changes } = setup();
    breaker.failure(quota);
    clock.t = T0 + BASE;
    expect(breaker.tryPass()).toEqual({ probe: true });
    const before = changes.length;
    breaker.probeEnded();
    expect(breaker.state).toBe('half_open');
    expect(breaker.probeInFlight).toBe(false);
    expect(changes.length).toBe(before);
    expect(breaker.tryPass()).toEqual({ probe: true });
    expect(breaker.tryPass()).toBeUndefined();
  });

  it('probeEnded after the probe already succeeded or failed changes nothing', () => {
    const { breaker, clock } = setup();
    breaker.failure(quota);
    clock.t = T0 + BASE;
    breaker.tryPass();
    breaker.success();
    breaker.probeEnded();
    expect(breaker.state).toBe('closed');
    const until = breaker.failure(quota);
    breaker.probeEnded();
    expect(breaker.state).toBe('open');
    expect(breaker.until).toBe(until);
  });
});

describe('CooldownBreaker: late failures', () => {
  it('a late failure (a call started before the cooldown began) neither shortens nor re-doubles it', () => {
    const { breaker, advance, clock } = setup();
    const until = breaker.failure({ ...quota, startedAt: T0 - 100 });
    advance(10_000);
    // A straggler of the same wave, started before the cooldown.
    expect(breaker.failure({ ...quota, startedAt: T0 - 50 })).toBe(until);
    // Without startedAt, a failure while open can only be a straggler too.
    expect(breaker.failure(quota)).toBe(until);
    // A Retry-After shorter than what is left does not shorten it.
    expect(breaker.failure({ ...quota, startedAt: T0 - 10, retryAfterMs: 1_000 })).toBe(until);
    expect(breaker.until).toBe(until);
    expect(breaker.trips).toBe(1);
    // When the probe fails, the cooldown doubles once (60 s), not once per straggler.
    clock.t = until;
    breaker.tryPass();
    expect(breaker.failure({ ...quota, startedAt: clock.t })).toBe(clock.t + 2 * BASE);
  });

  it('a late failure with a longer Retry-After may lengthen the cooldown (today: until = max(until, now + delay))', () => {
    const { breaker, advance, clock } = setup();
    const until = breaker.failure(quota);
    advance(10_000);
    const later = breaker.failure({ ...quota, startedAt: T0 - 1, retryAfterMs: 120_000 });
    expect(later).toBe(clock.t + 120_000);
    expect(later).toBeGreaterThan(until);
    expect(breaker.until).toBe(later);
    expect(breaker.trips).toBe(1);
  });

  it('a late failure arriving during the probe does not decide for the probe', () => {
    const { breaker, clock } = setup();
    breaker.failure(quota);
    clock.t = T0 + BASE;
    expect(breaker.tryPass()).toEqual({ probe: true });
    expect(breaker.failure({ ...quota, startedAt: T0 - 5 })).toBe(clock.t);
    expect(breaker.state).toBe('half_open');
    expect(breaker.probeInFlight).toBe(true);
    expect(breaker.tryPass()).toBeUndefined();
  });

  it('a late failure after the probe closed the breaker is ignored; so is a late success while half-open', () => {
    const { breaker, clock } = setup();
    breaker.failure(quota);
    clock.t = T0 + BASE;
    breaker.tryPass();
    breaker.success({ startedAt: T0 - 1 }); // a straggler's success is not the probe's
    expect(breaker.state).toBe('half_open');
    expect(breaker.probeInFlight).toBe(true);
    breaker.success({ startedAt: clock.t });
    expect(breaker.state).toBe('closed');
    breaker.failure({ ...quota, startedAt: T0 - 1 });
    expect(breaker.state).toBe('closed');
  });

  it('a success while open (a straggler) does not close it', () => {
    const { breaker, advance } = setup();
    const until = breaker.failure(quota);
    advance(1_000);
    breaker.success();
    expect(breaker.state).toBe('open');
    expect(breaker.until).toBe(until);
  });
});

describe('CooldownBreaker: trip policy', () => {
  it('with ConsecutiveFailures(3), stays closed for two failures and opens on the third', () => {
    const { breaker, clock } = setup({ trip: new ConsecutiveFailures(3) });
    expect(breaker.failure(quota)).toBe(clock.t);
    expect(breaker.failure(quota)).toBe(clock.t);
    expect(breaker.state).toBe('closed');
    expect(breaker.failure(quota)).toBe(T0 + BASE);
    expect(breaker.state).toBe('open');
  });

  it('a success in between starts the count again', () => {
    const { breaker } = setup({ trip: new ConsecutiveFailures(2) });
    breaker.failure(quota);
    breaker.success();
    breaker.failure(quota);
    expect(breaker.state).toBe('closed');
    breaker.failure(quota);
    expect(breaker.state).toBe('open');
  });

  it('a failed probe re-opens at once, whatever the threshold, and the count starts afresh after closing', () => {
    const { breaker, clock } = setup({ trip: new ConsecutiveFailures(2) });
    breaker.failure(quota);
    breaker.failure(quota);
    clock.t = T0 + BASE;
    breaker.tryPass();
    expect(breaker.failure(quota)).toBe(clock.t + 2 * BASE);
    clock.t += 2 * BASE;
    breaker.tryPass();
    breaker.success();
    breaker.failure(quota);
    expect(breaker.state).toBe('closed');
  });
});

describe('CooldownBreaker: exhausted (per day)', () => {
  const resetAt = T0 + 5 * 3_600_000;

  it('a per-day failure takes it out until resetAt; then a probe decides', () => {
    const { breaker, clock } = setup();
    expect(breaker.failure({ reason: 'daily quota exhausted', perDay: true, resetAt })).toBe(resetAt);
    expect(breaker.state).toBe('exhausted');
    expect(breaker.until).toBe(resetAt);
    expect(breaker.nextChangeAt()).toBe(resetAt);
    expect(breaker.tryPass()).toBeUndefined();
    clock.t = resetAt - 1;
    expect(breaker.tryPass()).toBeUndefined();
    clock.t = resetAt;
    expect(breaker.state).toBe('half_open');
    expect(breaker.tryPass()).toEqual({ probe: true });
    expect(breaker.tryPass()).toBeUndefined();
    breaker.success();
    expect(breaker.state).toBe('closed');
  });

  it('other failures while exhausted change nothing', () => {
    const { breaker, advance } = setup();
    breaker.failure({ reason: 'daily', perDay: true, resetAt });
    advance(1_000);
    expect(breaker.failure({ ...quota, retryAfterMs: 10 })).toBe(resetAt);
    expect(breaker.failure({ ...quota, startedAt: T0 + 1_000 })).toBe(resetAt);
    expect(breaker.state).toBe('exhausted');
    expect(breaker.reason).toBe('daily');
  });

  it('a per-day failure while cooling replaces the cooldown, never ending earlier than it', () => {
    const { breaker } = setup();
    breaker.failure({ ...quota, retryAfterMs: 10 * 3_600_000 });
    expect(breaker.failure({ reason: 'daily', perDay: true, resetAt })).toBe(T0 + 10 * 3_600_000);
    expect(breaker.state).toBe('exhausted');
  });

  it('a per-day failure without resetAt is out for capMs', () => {
    const { breaker } = setup();
    expect(breaker.failure({ reason: 'daily', perDay: true })).toBe(T0 + CAP);
  });

  it('a failed probe after the reset cools down normally', () => {
    const { breaker, clock } = setup();
    breaker.failure({ reason: 'daily', perDay: true, resetAt });
    clock.t = resetAt;
    breaker.tryPass();
    expect(breaker.failure(quota)).toBe(resetAt + BASE);
    expect(breaker.state).toBe('open');
  });
});

describe('CooldownBreaker: save and restore (saved health is a hint, not a verdict)', () => {
  it('saves only an open or exhausted state still in force', () => {
    const { breaker, clock } = setup();
    expect(breaker.save()).toBeUndefined();
    breaker.failure(quota);
    expect(breaker.save()).toEqual({ state: 'open', until: T0 + BASE, reason: 'quota exhausted (429)' });
    clock.t = T0 + BASE;
    expect(breaker.save()).toBeUndefined();
    breaker.tryPass();
    breaker.failure({ reason: 'daily', perDay: true, resetAt: T0 + 86_400_000 });
    expect(breaker.save()).toEqual({ state: 'exhausted', until: T0 + 86_400_000, reason: 'daily' });
  });

  it('round trip: a restored breaker is half-open at once, whatever the saved until, and lets exactly one probe through', () => {
    const first = setup();
    first.breaker.failure({ ...quota, retryAfterMs: 3_600_000 });
    const saved = first.breaker.save();
    if (!saved) throw new Error('expected saved health');

    const clock = { t: T0 + 60_000 }; // the next run starts a minute later, long before the saved until
    const breaker = CooldownBreaker.restore(saved, { now: () => clock.t });
    expect(breaker.state).toBe('half_open');
    expect(breaker.restored).toBe(true);
    expect(breaker.reason).toBe('quota exhausted (429) (from the previous run)');
    expect(breaker.until).toBeUndefined();
    expect(breaker.tryPass()).toEqual({ probe: true });
    expect(breaker.tryPass()).toBeUndefined();
  });

  it('restore → the probe succeeds → closed, and the hint is gone', () => {
    const clock = { t: T0 };
    const breaker = CooldownBreaker.restore({ state: 'exhausted', until: T0 + 86_400_000, reason: 'daily' }, { now: () => clock.t });
    expect(breaker.tryPass()).toEqual({ probe: true });
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.restored).toBe(false);
    expect(breaker.save()).toBeUndefined();
    expect(breaker.tryPass()).toEqual({ probe: false });
  });

  it('restore → the probe fails → the saved state is trusted again, until the later of saved and new', () => {
    const clock = { t: T0 };
    const saved: SavedBreaker = { state: 'open', until: T0 + 3_600_000, reason: 'quota exhausted (429)' };
    const breaker = CooldownBreaker.restore(saved, { now: () => clock.t });
    breaker.tryPass();
    expect(breaker.failure({ ...quota, startedAt: T0 })).toBe(T0 + 3_600_000);
    expect(breaker.state).toBe('open');
    expect(breaker.until).toBe(T0 + 3_600_000);
    expect(breaker.restored).toBe(false);
    expect(breaker.save()).toEqual({ state: 'open', until: T0 + 3_600_000, reason: 'quota exhausted (429)' });

    // The new failure's time wins when it is later.
    const other = CooldownBreaker.restore({ ...saved, until: T0 + 1_000 }, { now: () => clock.t });
    other.tryPass();
    expect(other.failure(quota)).toBe(T0 + BASE);
  });

  it('restore of an exhausted state → the probe fails (even a plain 429) → exhausted until the saved reset', () => {
    const clock = { t: T0 };
    const breaker = CooldownBreaker.restore({ state: 'exhausted', until: T0 + 86_400_000, reason: 'daily' }, { now: () => clock.t });
    breaker.tryPass();
    expect(breaker.failure(quota)).toBe(T0 + 86_400_000);
    expect(breaker.state).toBe('exhausted');
  });

  it('restore → the probe fails per day → exhausted until the later of the saved until and resetAt', () => {
    const clock = { t: T0 };
    const breaker = CooldownBreaker.restore({ state: 'open', until: T0 + 600_000, reason: 'q' }, { now: () => clock.t });
    breaker.tryPass();
    expect(breaker.failure({ reason: 'daily', perDay: true, resetAt: T0 + 7_200_000 })).toBe(T0 + 7_200_000);
    expect(breaker.state).toBe('exhausted');
  });

  it('after trusting the saved state it behaves normally: expiry → probe → doubled cooldown on failure', () => {
    const clock = { t: T0 };
    const breaker = CooldownBreaker.restore({ state: 'open', until: T0 + 10_000, reason: 'q' }, { now: () => clock.t });
    breaker.tryPass();
    const until = breaker.failure(quota);
    expect(until).toBe(T0 + BASE);
    clock.t = until;
    expect(breaker.state).toBe('half_open');
    expect(breaker.restored).toBe(false);
    breaker.tryPass();
    expect(breaker.failure(quota)).toBe(clock.t + 2 * BASE);
  });

  it('restore → the probe ends without a verdict → another probe may pass, still restored; never two at once', () => {
    const clock = { t: T0 };
    const breaker = CooldownBreaker.restore({ state: 'open', until: T0 + 3_600_000, reason: 'q' }, { now: () => clock.t });
    expect(breaker.tryPass()).toEqual({ probe: true });
    breaker.probeEnded();
    expect(breaker.restored).toBe(true);
    expect(breaker.tryPass()).toEqual({ probe: true });
    expect(breaker.tryPass()).toBeUndefined();
    breaker.failure(quota);
    expect(breaker.until).toBe(T0 + 3_600_000);
  });

  it('a restored saved until that has already passed still gets a probe; its failure cools down from now', () => {
    const clock = { t: T0 };
    const breaker = CooldownBreaker.restore({ state: 'open', until: T0 - 1, reason: 'q' }, { now: () => clock.t });
    expect(breaker.state).toBe('half_open');
    expect(breaker.tryPass()).toEqual({ probe: true });
    expect(breaker.failure(quota)).toBe(T0 + BASE);
  });

  it('until a probe decides, save() keeps the hint (so a restart before the probe does not lose it), without doubling the suffix', () => {
    const clock = { t: T0 };
    const saved: SavedBreaker = { state: 'exhausted', until: T0 + 3_600_000, reason: 'daily' };
    const breaker = CooldownBreaker.restore(saved, { now: () => clock.t });
    expect(breaker.save()).toEqual(saved);
    const again = CooldownBreaker.restore({ ...saved, reason: 'daily (from the previous run)' }, { now: () => clock.t });
    expect(again.reason).toBe('daily (from the previous run)');
    clock.t = T0 + 3_600_000;
    expect(breaker.save()).toBeUndefined();
  });

  it('the instance restore() works the same on an existing breaker', () => {
    const { breaker, changes } = setup();
    breaker.restore({ state: 'open', until: T0 + 3_600_000, reason: 'q' });
    expect(changes).toEqual(['half_open']);
    expect(breaker.state).toBe('half_open');
    expect(breaker.restored).toBe(true);
    expect(breaker.tryPass()).toEqual({ probe: true });
    breaker.success();
    expect(breaker.state).toBe('closed');
  });
});

describe('CooldownBreaker: onChange', () => {
  it('is called on every transition, and when until changes, but not for probes or changeless failures', () => {
    const { breaker, changes, clock } = setup();
    breaker.tryPass();
    expect(changes).toEqual([]);
    const until = breaker.failure(quota);
    expect(changes).toEqual(['open']);
    breaker.failure({ ...quota, startedAt: T0 - 1 }); // late, changes nothing
    expect(changes).toEqual(['open']);
    breaker.failure({ ...quota, startedAt: T0 - 1, retryAfterMs: 2 * BASE }); // late but lengthens: persist it
    expect(changes).toEqual(['open', 'open']);
    clock.t = until + BASE;
    expect(breaker.state).toBe('half_open');
    expect(changes).toEqual(['open', 'open', 'half_open']);
    breaker.tryPass();
    expect(changes).toHaveLength(3);
    breaker.failure(quota);
    expect(changes).toEqual(['open', 'open', 'half_open', 'open']);
    clock.t = breaker.until ?? 0;
    breaker.tryPass();
    breaker.success();
    expect(changes).toEqual(['open', 'open', 'half_open', 'open', 'half_open', 'closed']);
    breaker.success();
    expect(changes).toHaveLength(6);
    breaker.failure({ reason: 'daily', perDay: true, resetAt: clock.t + 1_000 });
    expect(changes.at(-1)).toBe('exhausted');
  });

  it('sees the new state when it reads the breaker from inside the callback (the pool persists on change)', () => {
    const clock = { t: T0 };
    const seen: (ReturnType<CooldownBreaker['save']> | BreakerState)[] = [];
    const breaker: CooldownBreaker = new CooldownBreaker({
      now: () => clock.t,
      onChange: (state) => seen.push(state, breaker.save()),
    });
    breaker.failure(quota);
    expect(seen).toEqual(['open', { state: 'open', until: T0 + BASE, reason: 'quota exhausted (429)' }]);
    clock.t = T0 + BASE;
    void breaker.state;
    expect(seen.slice(2)).toEqual(['half_open', undefined]);
  });
});
