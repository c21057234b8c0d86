/**
 * An adaptive concurrency window for capacity that is shared and unknown (Vertex's dynamic shared
 * quota): AIMD as in TCP congestion control (RFC 5681). Slow start (+1 per success) until the first
 * refusal; then additive increase (`increase` calls per window's worth of successes) and a
 * multiplicative decrease to `decrease` times the most calls in flight while the refused call was
 * (TCP's ssthresh = FlightSize / 2), at most once per round trip: refusals of calls that started
 * before the last decrease belong to the same overshoot, and only bring the window down to the calls
 * of that overshoot that were not refused (a big overshoot, e.g. at the end of slow start, is undone
 * in one round trip instead of one cut per round trip). The increase doubles every 4 round trips
 * without a refusal, up to 4 times its base (as CUBIC probes faster far from its last loss), so that
 * capacity that comes back after a drop is found in seconds, not minutes.
 */
export interface AdaptiveWindowOptions {
  now: () => number;
  /** The window before anything is known (slow start grows it from there). */
  initial?: number;
  min?: number;
  max?: number;
  /** Calls added per full window of successes (congestion avoidance). */
  increase?: number;
  /** The share of the flight size kept after a refusal. */
  decrease?: number;
}

/** How a call admitted by the window ended. `none`: no verdict on capacity (not sent, or failed otherwise). */
export type WindowOutcome = 'success' | 'refused' | 'timeout' | 'none';

/** One admitted call; `end` once. */
export interface WindowTicket {
  readonly startedAt: number;
  /** The most calls in flight (this one included) while it has been in flight. */
  readonly flight: number;
  end(outcome: WindowOutcome): void;
}

export interface WindowSnapshot {
  limit: number;
  inFlight: number;
  successes: number;
  refusals: number;
  timeouts: number;
}

export class AdaptiveWindow {
  private limitValue: number;
  private slowStart = true;
  /** Admissions so far, and the count at the last decrease (calls admitted before it share its overshoot). */
  private admitted = 0;
  private admittedAtDecrease = 0;
  /** The overshoot since the last decrease: the most calls in flight seen by its refused calls, and how many were refused. */
  private episode = { peak: 0, refused: 0 };
  /** Successes since the last decrease (round trips without a refusal, times the window). */
  private calm = 0;
  private inFlightValue = 0;
  /** The peak flight size seen by each call in flight. */
  private readonly open = new Set<{ peak: number }>();
  private successes = 0;
  private refusals = 0;
  private timeouts = 0;
  private readonly min: number;
  private readonly max: number;
  private readonly increase: number;
  private readonly decrease: number;

  constructor(private readonly options: AdaptiveWindowOptions) {
    this.min = options.min ?? 1;
    this.max = options.max ?? 1000;
    this.increase = options.increase ?? 0.25;
    this.decrease = options.decrease ?? 0.85;
    this.limitValue = Math.min(this.max, Math.max(this.min, options.initial ?? 4));
  }

  /** Calls allowed in flight now (the window's whole part). */
  get limit(): number {
    return Math.max(this.min, Math.floor(this.limitValue));
  }

  get inFlight(): number {
    return this.inFlightValue;
  }

  hasRoom(): boolean {
    return this.inFlightValue < this.limit;
  }

  /** Admits a call when the window has room; undefined when it is full. */
  tryAcquire(): WindowTicket | undefined {
    if (!this.hasRoom()) return undefined;
    this.inFlightValue += 1;
    this.admitted += 1;
    const seq = this.admitted;
    const startedAt = this.options.now();
    const state = { peak: 0, limitAtStart: this.limit };
    this.open.add(state);
    for (const other of this.open) other.peak = Math.max(other.peak, this.inFlightValue);
    let ended = false;
    return {
      startedAt,
      get flight() {
        return state.peak;
      },
      end: (outcome) => {
        if (ended) return;
        ended = true;
        this.inFlightValue -= 1;
        this.open.delete(state);
        this.record(outcome, seq, state.peak, state.limitAtStart);
      },
    };
  }

  private record(outcome: WindowOutcome, seq: number, flight: number, limitAtStart: number): void {
    if (outcome === 'success') {
      this.successes += 1;
      // Grow only while the window is used: an idle window says nothing about capacity.
      if (flight + 1 < limitAtStart) return;
      this.calm += 1;
      const boost = 2 ** Math.min(2, Math.floor(this.calm / (4 * this.limitValue)));
      this.limitValue = Math.min(this.max, this.limitValue + (this.slowStart ? 1 : (this.increase * boost) / this.limitValue));
      return;
    }
    if (outcome === 'none') return;
    if (outcome === 'refused') this.refusals += 1;
    else this.timeouts += 1;
    // Same overshoot as a decrease already made (the call started before it): counted once.
    if (seq <= this.admittedAtDecrease) {
      // The same overshoot: the capacity was at most the calls of it that got through.
      this.episode = { peak: Math.max(this.episode.peak, flight), refused: this.episode.refused + 1 };
      this.limitValue = Math.max(this.min, Math.min(this.limitValue, this.episode.peak - this.episode.refused));
      return;
    }
    this.slowStart = false;
    this.calm = 0;
    this.episode = { peak: flight, refused: 1 };
    this.limitValue = Math.max(this.min, Math.min(this.limitValue, flight) * this.decrease);
    this.admittedAtDecrease = this.admitted;
  }

  snapshot(): WindowSnapshot {
    return { limit: this.limit, inFlight: this.inFlightValue, successes: this.successes, refusals: this.refusals, timeouts: this.timeouts };
  }
}
