import { backoffDelay } from './backoff.js';

export interface RetryPolicyOptions {
  /** Attempts in all, the first one included (>= 1). */
  maxAttempts: number;
  /** Ceiling of the first backoff (ms); it doubles with every attempt, up to `capMs`. */
  baseMs: number;
  /** Longest wait between attempts (ms), a server-given Retry-After included. */
  capMs: number;
  /** Injected randomness in [0, 1) for the jitter (tests); Math.random by default. */
  random?: () => number;
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/**
 * WHETHER and WHEN to try a failed call again: at most `maxAttempts` attempts, waiting an
 * exponential backoff with full jitter between them (see backoffDelay), or what the server asked
 * for (Retry-After), capped at `capMs`. It only decides; it neither sleeps nor calls anything.
 */
export class RetryPolicy {
  readonly maxAttempts: number;
  readonly baseMs: number;
  readonly capMs: number;
  private readonly random: (() => number) | undefined;

  constructor(options: RetryPolicyOptions) {
    if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1)
      throw new RangeError(`maxAttempts must be an integer >= 1 (got ${options.maxAttempts})`);
    if (!(options.baseMs >= 0) || !(options.capMs >= 0)) throw new RangeError(`baseMs and capMs must be >= 0 (got ${options.baseMs}, ${options.capMs})`);
    this.maxAttempts = options.maxAttempts;
    this.baseMs = options.baseMs;
    this.capMs = options.capMs;
    this.random = options.random;
  }

  /**
   * `attempt` is the number of attempts used so far (>= 1, the one that just failed included);
   * `retryAfterMs` is the server's own delay, if it gave one (a negative or non-finite one is ignored).
   */
  decide(attempt: number, retryAfterMs?: number): RetryDecision {
    if (attempt >= this.maxAttempts) return { retry: false };
    if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) {
      return { retry: true, delayMs: Math.min(this.capMs, Math.ceil(retryAfterMs)) };
    }
    const delayMs = backoffDelay(Math.max(1, attempt), { baseMs: this.baseMs, capMs: this.capMs, ...(this.random ? { random: this.random } : {}) });
    return { retry: true, delayMs };
  }
}
