/**
 * WHEN a breaker trips, kept apart from the breaker itself (which decides when calls may pass
 * again). The breaker reports each outcome of a call made while it was closed, and calls `reset`
 * whenever it opens (or is taken out), so a policy starts afresh after a cooldown.
 */
export interface TripPolicy {
  /** A call succeeded. */
  success(): void;
  /** A call failed; true means trip now. */
  failure(): boolean;
  /** Forget what was counted so far. */
  reset(): void;
}

/** Trips after `threshold` failures in a row (a success in between starts the count again). */
export class ConsecutiveFailures implements TripPolicy {
  private failures = 0;

  constructor(readonly threshold: number) {
    if (!Number.isInteger(threshold) || threshold < 1) throw new RangeError(`threshold must be an integer >= 1 (got ${threshold})`);
  }

  /** Failures in a row so far. */
  get count(): number {
    return this.failures;
  }

  success(): void {
    this.failures = 0;
  }

  failure(): boolean {
    this.failures += 1;
    return this.failures >= this.threshold;
  }

  reset(): void {
    this.failures = 0;
  }
}
