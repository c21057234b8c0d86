import { RETRY_LATER, type Reservation, type SpendGuard } from '../estimate/budget.js';
import { Wake } from './wake.js';

/**
 * The worst case of one call held against the budget until what it spent is known. It is a value
 * that travels with the call (a parked video operation keeps it while Vertex works); whoever gets
 * the call's settlement settles it, once.
 */
export class BudgetHold {
  private open = true;

  constructor(
    private readonly holds: BudgetHolds,
    private readonly reservation: Reservation | undefined,
    /** Where the call went (known once leased), for spend shared with other runs. */
    public project: string | undefined,
  ) {}

  /** Replaces the hold by what the call spent (its worst case when that cannot be known). Once. */
  settle(spentUsd: number): void {
    if (!this.open) return;
    this.open = false;
    const { budget } = this.holds;
    if (this.reservation) budget?.settle(this.reservation, spentUsd, this.project);
    this.holds.settled();
  }
}

/**
 * The budget as calls hold it: a reservation per call (refused when it could cross a cap), and a
 * count of holds settled so far, so that a dispatcher waiting for room knows when some was freed.
 */
export class BudgetHolds {
  private count = 0;
  /** Notified when a hold is settled (room may be free): a dispatcher waiting for room looks again. */
  readonly freed = new Wake();

  constructor(readonly budget: SpendGuard | undefined) {}

  /** Holds settled so far. */
  get settles(): number {
    return this.count;
  }

  /** Whether anything is held for calls in flight (they may settle for less and free room). */
  get holding(): boolean {
    return this.budget?.holding ?? false;
  }

  /** Reserves a call's worst case: a hold, `undefined` when it could cross a cap, or RETRY_LATER when the budget cannot answer now. */
  async reserve(worstCaseUsd: number): Promise<BudgetHold | undefined | typeof RETRY_LATER> {
    const reservation = await this.budget?.reserve(worstCaseUsd);
    if (reservation === RETRY_LATER) return RETRY_LATER;
    if (this.budget && !reservation) return undefined;
    return new BudgetHold(this, reservation, undefined);
  }

  /** Holds a call already under way without refusing it; `counted`: its worst case is in the spend read at the start. */
  hold(worstCaseUsd: number, counted: boolean, project: string | undefined): BudgetHold {
    return new BudgetHold(this, this.budget?.hold(worstCaseUsd, counted), project);
  }

  /** Called by a hold when it is settled. */
  settled(): void {
    this.count += 1;
    this.freed.notify();
  }
}
