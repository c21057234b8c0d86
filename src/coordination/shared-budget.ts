import type { SharedBudgetLimits } from '../credentials/credentials.js';
import { GenbatchError } from '../errors/genbatch-error.js';
import { RETRY_LATER, type Reservation, type SecondGuard } from '../estimate/budget.js';
import { CoordinationLostError, NANO, utcDay, type BudgetHold, type BudgetTotals, type SharedBudgetBackend } from './coordinator.js';

/** Sent (once per day, by one run) when the day's shared spend crosses `alert_at` of `daily_usd`. */
export interface BudgetAlert {
  day: string;
  dailyUsd: number;
  alertAt: number;
  spentUsd: number;
  credentialsFile: string;
  /** The job whose call crossed it. */
  job: string;
}

export interface SharedBudgetOptions {
  backend: SharedBudgetBackend;
  limits: SharedBudgetLimits;
  /** Which budget: see budgetScope. */
  scope: string;
  job: string;
  credentialsFile: string;
  /** When set, this run may send the day's alert (a run with nowhere to send it leaves it to another). */
  onAlert?: (alert: BudgetAlert) => void | Promise<void>;
  now?: () => number;
}

interface SharedReservation extends Reservation {
  hold: Promise<BudgetHold | undefined>;
}

/** Settles still on their way when the run ends get this long to reach the shared store. */
const FLUSH_MS = 5000;

/**
 * The credentials file's `budget: { daily_usd }`, shared by every run that uses the file (on this
 * host, or through Redis): each call's worst case is held in the shared store before it is made —
 * one atomic check, so two runs never both take the last dollars — and replaced by what it cost
 * after. Holds of a run that died stay counted for the day (its calls may have been billed). It has
 * the shape of the job's own Budget, and stands beside it (BudgetPair).
 */
export class SharedBudget implements SecondGuard {
  private reservedUsd = 0;
  private totals: BudgetTotals = { spentNano: 0, heldNano: 0 };
  private readonly pending = new Set<Promise<void>>();
  private alertedDay: string | undefined;
  private readonly now: () => number;

  constructor(private readonly options: SharedBudgetOptions) {
    this.now = options.now ?? Date.now;
  }

  private get capNano(): number {
    return Math.round(this.options.limits.dailyUsd * NANO);
  }

  async reserve(usd: number): Promise<Reservation | undefined | typeof RETRY_LATER> {
    const { backend, scope, job } = this.options;
    let result: BudgetTotals & { hold: BudgetHold | undefined };
    try {
      result = await backend.reserve(scope, utcDay(this.now()), this.capNano, Math.ceil(usd * NANO), job, false);
    } catch (error) {
      if (error instanceof CoordinationLostError) return RETRY_LATER;
      throw error;
    }
    this.totals = result;
    if (!result.hold) return undefined;
    this.reservedUsd += usd;
    const reservation: SharedReservation = { usd, hold: Promise.resolve(result.hold) };
    return reservation;
  }

  /** A call already under way (a video operation an earlier run started): held without refusing. */
  hold(usd: number): Reservation {
    const { backend, scope, job } = this.options;
    this.reservedUsd += usd;
    const hold = backend.reserve(scope, utcDay(this.now()), this.capNano, Math.ceil(usd * NANO), job, true).then(
      (r) => r.hold,
      () => undefined,
    );
    const reservation: SharedReservation = { usd, hold };
    return reservation;
  }

  get holding(): boolean {
    return this.reservedUsd > 1e-12;
  }

  settle(reservation: Reservation, actualUsd: number, project?: string): void {
    const { backend, scope, job } = this.options;
    this.reservedUsd -= reservation.usd;
    const work = (reservation as SharedReservation).hold
      .then(async (hold) => {
        if (!hold) return;
        this.totals = await backend.settle(scope, hold, job, project, Math.round(actualUsd * NANO));
        await this.maybeAlert(hold.day);
      })
      .catch(() => undefined);
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  /** Crossing `alert_at`: the first run to see it (and to have somewhere to send it) sends the day's alert. */
  private async maybeAlert(day: string): Promise<void> {
    const { onAlert, limits, backend, scope } = this.options;
    if (!onAlert || this.alertedDay === day || this.totals.spentNano < limits.alertAt * this.capNano) return;
    this.alertedDay = day;
    if (!(await backend.claimAlert(scope, day))) return;
    await onAlert({
      day,
      dailyUsd: limits.dailyUsd,
      alertAt: limits.alertAt,
      spentUsd: this.totals.spentNano / NANO,
      credentialsFile: this.options.credentialsFile,
      job: this.options.job,
    });
  }

  /** Today's figures as last seen, for metrics. */
  figures(): { dailyUsd: number; spentUsd: number; heldUsd: number } {
    return { dailyUsd: this.options.limits.dailyUsd, spentUsd: this.totals.spentNano / NANO, heldUsd: this.totals.heldNano / NANO };
  }

  /** Waits (a little) for settles on their way, so the run's spend is in the shared store before it ends. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.pending), new Promise((resolve) => (timer = setTimeout(resolve, FLUSH_MS)))]);
    clearTimeout(timer);
  }

  stopError(nextCallUsd: number): GenbatchError {
    const { limits, credentialsFile } = this.options;
    const spent = this.totals.spentNano / NANO;
    const held = this.totals.heldNano / NANO;
    return new GenbatchError(
      `Stopped by the shared budget cap: the next call could cost up to $${nextCallUsd.toFixed(4)}, which could cross budget.daily_usd of $${limits.dailyUsd.toFixed(2)} in ${credentialsFile}, shared by every job using that file (spent today $${spent.toFixed(4)}${held > 0 ? `, $${held.toFixed(4)} held for calls in flight` : ''}).`,
      {
        code: 'SHARED_BUDGET_CAP',
        exitCode: 3,
        hint: `Raise budget.daily_usd in ${credentialsFile} (it caps every job using the file, together; \`genbatch cost --all ${credentialsFile}\` shows who spent what), or wait for the next UTC day; then \`genbatch resume JOB\` — nothing done is redone.`,
      },
    );
  }
}
