import { GenbatchError } from '../errors/genbatch-error.js';

export interface BudgetLimits {
  /** Cap on the job's total spend, across runs and resumes. */
  maxUsd?: number;
  /** Cap on the job's spend in one UTC day, across runs. */
  dailyUsd?: number;
}

export interface Reservation {
  readonly usd: number;
}

/**
 * The spending guard. Before each call its worst-case cost is reserved; after it, the real cost
 * replaces the reservation. A call whose reservation could cross a cap is not made.
 */
export class Budget {
  private reserved = 0;
  private refusedBy: 'max' | 'daily' = 'max';

  constructor(
    private readonly limits: BudgetLimits,
    private spentTotal: number,
    private spentToday: number,
  ) {}

  get active(): boolean {
    return this.limits.maxUsd !== undefined || this.limits.dailyUsd !== undefined;
  }

  /** A reservation, or undefined when the call could cross a cap. */
  reserve(usd: number): Reservation | undefined {
    const committed = this.reserved + usd;
    if (this.limits.maxUsd !== undefined && this.spentTotal + committed > this.limits.maxUsd + 1e-9) {
      this.refusedBy = 'max';
      return undefined;
    }
    if (this.limits.dailyUsd !== undefined && this.spentToday + committed > this.limits.dailyUsd + 1e-9) {
      this.refusedBy = 'daily';
      return undefined;
    }
    this.reserved += usd;
    return { usd };
  }

  /**
   * Reserves without refusing, for a call already under way (a video operation started by an earlier
   * run). `counted`: its worst case is already in the spend read at the start (an unsettled ledger
   * row), so it moves from spent to reserved instead of being counted twice.
   */
  hold(usd: number, counted: boolean): Reservation {
    if (counted) this.spentTotal -= usd;
    this.reserved += usd;
    return { usd };
  }

  /** Whether anything is reserved for calls in flight (they may settle for less and free room). */
  get holding(): boolean {
    return this.reserved > 1e-12;
  }

  settle(reservation: Reservation, actualUsd: number): void {
    this.reserved -= reservation.usd;
    this.spentTotal += actualUsd;
    this.spentToday += actualUsd;
  }

  stopError(nextCallUsd: number): GenbatchError {
    const inFlight = this.reserved > 0 ? ` with $${this.reserved.toFixed(4)} reserved for calls in flight` : '';
    const which =
      this.refusedBy === 'max'
        ? `the job's budget.max_usd of $${(this.limits.maxUsd ?? 0).toFixed(2)} (spent so far $${this.spentTotal.toFixed(4)}${inFlight})`
        : `budget.daily_usd of $${(this.limits.dailyUsd ?? 0).toFixed(2)} (spent today $${this.spentToday.toFixed(4)}${inFlight})`;
    return new GenbatchError(`Stopped by the budget cap: the next call could cost up to $${nextCallUsd.toFixed(4)}, which could cross ${which}.`, {
      code: 'BUDGET_CAP',
      exitCode: 3,
      hint: 'Raise budget.max_usd in the job file (or pass --budget USD), then `genbatch resume JOB`; nothing done is redone.',
    });
  }
}
