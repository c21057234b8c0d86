import { ConsecutiveFailures, type TripPolicy } from './trip-policy.js';

/**
 * - `closed`: calls pass.
 * - `open`: cooling down until `until`; nothing passes.
 * - `half_open`: exactly one probe may pass; the others wait for its outcome.
 * - `exhausted`: out until `until` (e.g. a daily quota, until the next reset); nothing passes.
 */
export type BreakerState = 'closed' | 'open' | 'half_open' | 'exhausted';

/** What survives a restart: a cooldown or an exhaustion that was still in force. */
export interface SavedBreaker {
  state: 'open' | 'exhausted';
  until: number;
  reason: string;
}

export interface CooldownBreakerOptions {
  /** The clock (ms epoch); injected so that tests never sleep. */
  now: () => number;
  /** When to trip while closed; one failure by default (a 429 cools down at once). */
  trip?: TripPolicy;
  /** First cooldown (ms) when the server gave no Retry-After; it doubles on consecutive trips. */
  baseMs?: number;
  /** Longest computed cooldown (ms); a server-given Retry-After is not capped. */
  capMs?: number;
  /** Called after every state transition, and when `until` or `reason` change (to persist them). */
  onChange?: (state: BreakerState) => void;
}

export interface BreakerFailure {
  reason: string;
  /** The server's own delay (Retry-After), used instead of the computed one. */
  retryAfterMs?: number;
  /** A per-day quota: out until `resetAt`. */
  perDay?: boolean;
  /** When the failed call started (ms epoch): a call started before the current cooldown began is a late echo. */
  startedAt?: number;
  /** The next daily reset (ms epoch), for `perDay`; without it the breaker is out for `capMs`. */
  resetAt?: number;
}

const RESTORED_SUFFIX = ' (from the previous run)';

/**
 * WHEN calls may pass, for one (project, model): a circuit breaker whose open state is a cooldown
 * (Retry-After, else `baseMs` doubling on consecutive trips up to `capMs`), with a half-open state
 * that lets exactly one probe through, and an `exhausted` state for quotas that only come back at a
 * given time. WHEN to trip is the TripPolicy's business. Time only moves through `now()`: an
 * `open` or `exhausted` breaker whose time has passed becomes `half_open` the next time it is
 * looked at (`nextChangeAt` says when to look).
 *
 * Saved health is a hint, not a verdict: a restored breaker starts half-open, lets one probe
 * through, closes if it succeeds, and trusts the saved state again only if it fails.
 */
export class CooldownBreaker {
  private current: BreakerState = 'closed';
  private untilMs: number | undefined;
  private why: string | undefined;
  private probing = false;
  /** Trips (cooldowns) in a row without a success in between: the exponent of the cooldown. */
  private consecutiveTrips = 0;
  /** When the current (or the last) cooldown began: calls started before are late echoes. */
  private openedAt = Number.NEGATIVE_INFINITY;
  /** A restored state not yet confirmed or refuted by a probe. */
  private hint: SavedBreaker | undefined;
  private readonly now: () => number;
  private readonly tripPolicy: TripPolicy;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly onChange: ((state: BreakerState) => void) | undefined;

  constructor(options: CooldownBreakerOptions) {
    this.now = options.now;
    this.tripPolicy = options.trip ?? new ConsecutiveFailures(1);
    this.baseMs = options.baseMs ?? 30_000;
    this.capMs = options.capMs ?? 600_000;
    this.onChange = options.onChange;
    if (!(this.baseMs > 0) || !(this.capMs >= this.baseMs)) throw new RangeError(`need 0 < baseMs <= capMs (got ${this.baseMs}, ${this.capMs})`);
  }

  /** A breaker that starts from saved health (see `restore`). */
  static restore(saved: SavedBreaker, options: CooldownBreakerOptions): CooldownBreaker {
    const breaker = new CooldownBreaker(options);
    breaker.restore(saved);
    return breaker;
  }

  /**
   * Takes saved health as a hint: half-open at once, whatever the saved `until`, so that one probe
   * finds out. If that probe succeeds the breaker closes; if it fails with a quota failure, the saved
   * state holds again, until the later of the saved `until` and the new failure's.
   */
  restore(saved: SavedBreaker): void {
    const reason = saved.reason.endsWith(RESTORED_SUFFIX) ? saved.reason.slice(0, -RESTORED_SUFFIX.length) : saved.reason;
    this.hint = { state: saved.state, until: saved.until, reason };
    this.consecutiveTrips = 0;
    this.openedAt = Number.NEGATIVE_INFINITY;
    this.tripPolicy.reset();
    this.set('half_open', undefined, `${reason}${RESTORED_SUFFIX}`);
  }

  get state(): BreakerState {
    this.refresh();
    return this.current;
  }

  /** Until when (ms epoch) an `open` or `exhausted` breaker holds calls back; undefined otherwise. */
  get until(): number | undefined {
    this.refresh();
    return this.current === 'open' || this.current === 'exhausted' ? this.untilMs : undefined;
  }

  /** Why the breaker is not closed (kept while half-open); undefined when closed. */
  get reason(): string | undefined {
    this.refresh();
    return this.why;
  }

  /** Restored from saved health, and no probe has decided yet. */
  get restored(): boolean {
    return this.hint !== undefined;
  }

  get probeInFlight(): boolean {
    return this.probing;
  }

  /** Cooldowns in a row without a success in between. */
  get trips(): number {
    return this.consecutiveTrips;
  }

  /** When an `open` or `exhausted` breaker becomes `half_open` (for schedulers to sleep until). */
  nextChangeAt(): number | undefined {
    return this.until;
  }

  /**
   * Asks to let a call pass: `{ probe: false }` when closed; `{ probe: true }` for the one probe
   * of a half-open breaker (it is then in flight until success, failure or probeEnded); otherwise
   * undefined (wait).
   */
  tryPass(): { probe: boolean } | undefined {
    this.refresh();
    if (this.current === 'closed') return { probe: false };
    if (this.current === 'half_open' && !this.probing) {
      this.probing = true;
      return { probe: true };
    }
    return undefined;
  }

  /**
   * A call succeeded: the breaker closes (a half-open one) and the consecutive counts start again.
   * Success of a call started before the current cooldown began (`startedAt`), or any success while
   * open or exhausted (nothing passes then, so it is a late echo), changes nothing.
   */
  success(options: { startedAt?: number } = {}): void {
    this.refresh();
    if (this.current === 'open' || this.current === 'exhausted') return;
    if (options.startedAt !== undefined && options.startedAt < this.openedAt) return;
    this.tripPolicy.success();
    this.consecutiveTrips = 0;
    this.probing = false;
    this.hint = undefined;
    if (this.current === 'half_open') this.set('closed', undefined, undefined);
  }

  /**
   * A quota failure. Returns until when calls are held back (now, when the breaker did not trip).
   * - `perDay`: exhausted until `resetAt` (never earlier than an exhaustion already in force).
   * - while exhausted, other failures change nothing.
   * - a late failure (a call started before the current cooldown began; while open, any failure
   *   without `startedAt`) neither shortens nor re-doubles the cooldown: only a later Retry-After
   *   may lengthen it.
   * - half-open (the probe failed): open again with the doubled cooldown; a restored breaker
   *   trusts its saved state again, until the later of the saved and the new time.
   * - closed: open if the trip policy says so.
   */
  failure(failure: BreakerFailure): number {
    this.refresh();
    const now = this.now();
    const retryAfter =
      failure.retryAfterMs !== undefined && Number.isFinite(failure.retryAfterMs) && failure.retryAfterMs >= 0 ? failure.retryAfterMs : undefined;
    const holding = this.current === 'open' || this.current === 'exhausted';

    if (failure.perDay) {
      const resetAt = failure.resetAt ?? now + this.capMs;
      const until = Math.max(resetAt, holding ? (this.untilMs ?? resetAt) : resetAt, this.hint?.until ?? resetAt);
      this.enter('exhausted', until, failure.reason, now);
      return until;
    }
    if (this.current === 'exhausted') return this.untilMs ?? now;

    const late = failure.startedAt !== undefined ? failure.startedAt < this.openedAt : this.current === 'open';
    if (late) {
      if (this.current !== 'open') return now;
      const until = Math.max(this.untilMs ?? now, retryAfter === undefined ? Number.NEGATIVE_INFINITY : now + retryAfter);
      if (until !== this.untilMs) this.set('open', until, failure.reason);
      return until;
    }

    if (this.current === 'closed' && !this.tripPolicy.failure()) return now;
    this.consecutiveTrips += 1;
    const delay = retryAfter ?? Math.min(this.capMs, this.baseMs * 2 ** (this.consecutiveTrips - 1));
    let state: 'open' | 'exhausted' = 'open';
    let until = now + delay;
    if (this.current === 'open') until = Math.max(until, this.untilMs ?? until); // a call that got past the breaker while open
    if (this.hint) {
      state = this.hint.state;
      until = Math.max(until, this.hint.until);
    }
    this.enter(state, until, failure.reason, now);
    return until;
  }

  /**
   * The probe ended with neither success nor a quota failure (a network error, a bad request, a
   * caller that gave up): half-open again, so another probe may pass. Safe to call after success
   * or failure (then it does nothing).
   */
  probeEnded(): void {
    this.refresh();
    if (this.current === 'half_open') this.probing = false;
  }

  /**
   * What to persist: an open or exhausted state still in force; while restored and not yet
   * probed, the saved hint itself (if still in force), so that a restart before the probe keeps it.
   */
  save(): SavedBreaker | undefined {
    this.refresh();
    const now = this.now();
    if ((this.current === 'open' || this.current === 'exhausted') && this.untilMs !== undefined && this.untilMs > now) {
      return { state: this.current, until: this.untilMs, reason: this.why ?? '' };
    }
    if (this.current === 'half_open' && this.hint && this.hint.until > now) return { ...this.hint };
    return undefined;
  }

  /** Open or exhausted, starting a cooldown (from closed or half-open) or extending the one in force. */
  private enter(state: 'open' | 'exhausted', until: number, reason: string, now: number): void {
    if (this.current !== 'open' && this.current !== 'exhausted') this.openedAt = now;
    this.probing = false;
    this.hint = undefined;
    this.tripPolicy.reset();
    this.set(state, until, reason);
  }

  /** Time passed: an open or exhausted breaker whose time is up lets a probe decide. */
  private refresh(): void {
    if ((this.current === 'open' || this.current === 'exhausted') && (this.untilMs ?? 0) <= this.now()) {
      this.set('half_open', undefined, this.why);
    }
  }

  private set(state: BreakerState, until: number | undefined, reason: string | undefined): void {
    const changed = state !== this.current || until !== this.untilMs || reason !== this.why;
    this.current = state;
    this.untilMs = until;
    this.why = reason;
    if (state !== 'half_open') this.probing = false;
    if (changed) this.onChange?.(state);
  }
}
