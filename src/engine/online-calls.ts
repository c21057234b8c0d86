import type { ProjectPool } from '../coordination/project-pool.js';
import type { BudgetHolds } from './budget-hold.js';
import { CallPipeline } from './call-pipeline.js';
import type { Executor, Settled, StepExecutor, Turn } from './executors/step-executor.js';
import type { Lane } from './lane.js';
import { Wake } from './wake.js';

export interface OnlineCallsOptions {
  executor: StepExecutor;
  holds: BudgetHolds;
  pool: ProjectPool;
  signal: AbortSignal;
  /** Calls in flight at most (`limits.concurrency`). */
  concurrency: number;
  /** The budget refused a call and no call in flight holds a reservation: the run must stop (the engine records why). */
  onBudgetRefused: (worstCaseUsd: number) => void;
}

/**
 * Online calls as an executor: the scheduler's lanes say which call goes when (`dispatch`), each
 * goes through the call pipeline, and what settled is handed back from the next `turn`. It bounds
 * the calls in flight, and when the money left cannot cover one more worst case it sends none
 * until a call in flight has settled its hold (for less than it held, most often).
 */
export class OnlineCalls implements Executor {
  readonly wake = new Wake();
  private readonly pipeline: CallPipeline;
  private calls = 0;
  private settled: Settled[] = [];
  private failed: unknown;
  /** Set when the budget could not cover one more call while others were in flight: holds settled by then. */
  private budgetWaitAfter: number | undefined;

  constructor(private readonly options: OnlineCallsOptions) {
    this.pipeline = new CallPipeline(options);
  }

  get inFlight(): number {
    return this.calls;
  }

  get busy(): boolean {
    return this.calls > 0;
  }

  /** Whether another call may be sent now: a slot is free, and the budget is not waiting for room. */
  get open(): boolean {
    const waiting = this.budgetWaitAfter !== undefined && this.options.holds.settles <= this.budgetWaitAfter;
    return this.calls < this.options.concurrency && !waiting;
  }

  turn(): Turn {
    const turn: Turn = { settled: this.settled, nextAt: Number.POSITIVE_INFINITY };
    this.settled = [];
    if (this.failed !== undefined) turn.failed = this.failed;
    this.failed = undefined;
    return turn;
  }

  left(): void {
    // Calls are awaited, never left running.
  }

  /** Takes a call's worth of units from the front of the lane and sends it (cache, budget, lease, call), if the call may go now (`open`). */
  dispatch(lane: Lane, model: string): void {
    const { executor } = this.options;
    const first = lane.ready[0];
    if (!first || !this.open) return;
    const units = lane.ready.splice(0, executor.batchSize(first.step));
    lane.acquiring = true;
    this.calls += 1;
    this.send(lane, units, model)
      .catch((error: unknown) => (this.failed ??= error))
      .finally(() => {
        lane.acquiring = false;
        this.calls -= 1;
        this.wake.notify();
      });
  }

  private async send(lane: Lane, units: Lane['ready'], model: string): Promise<void> {
    const prepared = this.options.executor.prepare(units);
    this.settled.push(...prepared.rejected);
    if (prepared.deferred) lane.ready.unshift(...prepared.deferred);
    if (!prepared.call) return;
    const outcome = await this.pipeline.send(prepared.call, model, lane.pool, {
      laneFree: () => {
        lane.acquiring = false;
        this.wake.notify();
      },
      servedBeside: (served) => this.servedBeside(served),
    });
    if (outcome.kind === 'settled') {
      this.settled.push(...outcome.settled);
      return;
    }
    lane.ready.unshift(...outcome.units);
    // Fewer calls at once when the money left cannot cover `concurrency` worst cases: wait for a
    // call in flight to settle. Stop only when no call holds a reservation and the next one still does not fit.
    if (outcome.kind === 'budget_refused') {
      if (outcome.othersHolding) this.budgetWaitAfter = this.options.holds.settles;
      else this.options.onBudgetRefused(outcome.worstCaseUsd);
    }
  }

  /** Units the cache answered while the rest of their call goes on: counted in flight until settled. */
  private servedBeside(served: Promise<Settled[]>): void {
    this.calls += 1;
    void served
      .then((settled) => this.settled.push(...settled))
      .catch((error: unknown) => (this.failed ??= error))
      .finally(() => {
        this.calls -= 1;
        this.wake.notify();
      });
  }
}
