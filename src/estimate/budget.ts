import { GenbatchError } from '../errors/genbatch-error.js';

export interface BudgetLimits {
  /** Cap on the job's total spend, across runs and resumes (`budget.max_usd`). */
  maxUsd?: number;
  /** Cap on one run's spend (`budget.per_run_usd`, or `--budget`). */
  perRunUsd?: number;
  /** Cap on the job's spend in one UTC day, across runs. */
  dailyUsd?: number;
}

export interface Reservation {
  readonly usd: number;
}

/**
 * What a reservation may answer besides yes (a Reservation) and no (undefined): the guard cannot
 * tell right now (a shared budget whose coordination server is unreachable). The call waits.
 */
export const RETRY_LATER = 'retry_later' as const;

/**
 * A spending guard as the scheduler consults it: the job's own Budget, or that and the credentials
 * file's shared daily budget together (BudgetPair). A call is made only when every guard reserved it.
 */
export interface SpendGuard {
  readonly active: boolean;
  reserve(usd: number): Reservation | undefined | Promise<Reservation | undefined | typeof RETRY_LATER>;
  hold(usd: number, counted: boolean): Reservation;
  readonly holding: boolean;
  /** `project`: where the call went, for shared spend reports (`cost --all`). */
  settle(reservation: Reservation, actualUsd: number, project?: string): void;
  stopError(nextCallUsd: number): GenbatchError;
}

/** A second guard beside the job's own: the same shape, its answers may take a round trip. */
export interface SecondGuard {
  reserve(usd: number): Promise<Reservation | undefined | typeof RETRY_LATER>;
  hold(usd: number): Reservation;
  readonly holding: boolean;
  settle(reservation: Reservation, actualUsd: number, project?: string): void;
  stopError(nextCallUsd: number): GenbatchError;
}

/**
 * The spending guard. Before each call its worst-case cost is reserved; after it, the real cost
 * replaces the reservation. A call whose reservation could cross a cap is not made.
 */
export class Budget implements SpendGuard {
  private reserved = 0;
  private refusedBy: 'max' | 'run' | 'daily' = 'max';

  /** `spentRun`: what this run spent before this guard (an earlier pass of it, a pilot). */
  constructor(
    private readonly limits: BudgetLimits,
    private spentTotal: number,
    private spentToday: number,
    private spentRun = 0,
  ) {}

  get active(): boolean {
    return this.limits.maxUsd !== undefined || this.limits.perRunUsd !== undefined || this.limits.dailyUsd !== undefined;
  }

  /** A reservation, or undefined when the call could cross a cap. */
  reserve(usd: number): Reservation | undefined {
    const committed = this.reserved + usd;
    if (this.limits.maxUsd !== undefined && this.spentTotal + committed > this.limits.maxUsd + 1e-9) {
      this.refusedBy = 'max';
      return undefined;
    }
    if (this.limits.perRunUsd !== undefined && this.spentRun + committed > this.limits.perRunUsd + 1e-9) {
      this.refusedBy = 'run';
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

  settle(reservation: Reservation, actualUsd: number, project?: string): void {
    void project;
    this.reserved -= reservation.usd;
    this.spentTotal += actualUsd;
    this.spentToday += actualUsd;
    this.spentRun += actualUsd;
  }

  stopError(nextCallUsd: number): GenbatchError {
    const inFlight = this.reserved > 0 ? ` with $${this.reserved.toFixed(4)} reserved for calls in flight` : '';
    const thisRun = `this run spent $${this.spentRun.toFixed(4)}`;
    const which = {
      max: `the job's budget.max_usd of $${(this.limits.maxUsd ?? 0).toFixed(2)} over all its runs (spent by all runs $${this.spentTotal.toFixed(4)}, ${thisRun}${inFlight})`,
      run: `the per-run cap of $${(this.limits.perRunUsd ?? 0).toFixed(2)} (budget.per_run_usd or --budget; ${thisRun}${inFlight})`,
      daily: `budget.daily_usd of $${(this.limits.dailyUsd ?? 0).toFixed(2)} (spent today $${this.spentToday.toFixed(4)}, ${thisRun}${inFlight})`,
    }[this.refusedBy];
    const hint = {
      max: 'Raise budget.max_usd in the job file (the cap over all runs of the job), then `genbatch resume JOB`; nothing done is redone.',
      run: 'The next run starts with a fresh per-run cap: `genbatch resume JOB` (or raise --budget / budget.per_run_usd); nothing done is redone.',
      daily: 'The next UTC day continues (`genbatch resume JOB`), or raise budget.daily_usd; nothing done is redone.',
    }[this.refusedBy];
    return new GenbatchError(`Stopped by the budget cap: the next call could cost up to $${nextCallUsd.toFixed(4)}, which could cross ${which}.`, {
      code: 'BUDGET_CAP',
      exitCode: 3,
      hint,
    });
  }
}

interface PairReservation extends Reservation {
  own: Reservation;
  second: Reservation;
}

/**
 * The job's own Budget and a second guard (the shared daily budget of the credentials file): a call
 * is reserved by both or by neither, and settled in both. Which one refused says why the run stopped.
 */
export class BudgetPair implements SpendGuard {
  private refusedBy: 'own' | 'second' = 'own';

  constructor(
    private readonly own: Budget,
    private readonly second: SecondGuard,
  ) {}

  get active(): boolean {
    return true;
  }

  async reserve(usd: number): Promise<Reservation | undefined | typeof RETRY_LATER> {
    const own = this.own.reserve(usd);
    if (!own) {
      this.refusedBy = 'own';
      return undefined;
    }
    const second = await this.second.reserve(usd);
    if (second === undefined || second === RETRY_LATER) {
      this.own.settle(own, 0);
      if (second === undefined) this.refusedBy = 'second';
      return second;
    }
    const pair: PairReservation = { usd, own, second };
    return pair;
  }

  hold(usd: number, counted: boolean): Reservation {
    const pair: PairReservation = { usd, own: this.own.hold(usd, counted), second: this.second.hold(usd) };
    return pair;
  }

  get holding(): boolean {
    return this.own.holding || this.second.holding;
  }

  settle(reservation: Reservation, actualUsd: number, project?: string): void {
    const pair = reservation as PairReservation;
    this.own.settle(pair.own, actualUsd, project);
    this.second.settle(pair.second, actualUsd, project);
  }

  stopError(nextCallUsd: number): GenbatchError {
    return this.refusedBy === 'own' ? this.own.stopError(nextCallUsd) : this.second.stopError(nextCallUsd);
  }
}
