import type { ProjectPool } from '../coordination/project-pool.js';
import { RETRY_LATER, type SpendGuard } from '../estimate/budget.js';
import type { PreparedCall, Settled, StepExecutor } from './executors/step-executor.js';
import type { Unit } from './unit.js';

/** What sending one prepared call came to: its units settled, or back in their lane, and why. */
export type Dispatched =
  | { kind: 'settled'; settled: Settled[] }
  /** No project could be leased now: the units go back to the front of their lane. */
  | { kind: 'no_lease'; units: Unit[] }
  /** The budget cannot be asked now (a shared budget whose server is away): the lane waits. */
  | { kind: 'budget_unreachable'; units: Unit[] }
  /** The budget cannot cover the call's worst case: wait for calls in flight to settle, or stop. */
  | { kind: 'budget_refused'; units: Unit[]; worstCaseUsd: number; othersHolding: boolean };

export interface CallPipelineOptions {
  executor: StepExecutor;
  budget: SpendGuard | undefined;
  pool: ProjectPool;
  signal: AbortSignal;
  /** A call's budget was settled (it may free room for the next). */
  budgetSettled: () => void;
}

export interface DispatchHooks {
  /** The lane may take its next lease: this call holds one (or needs none), and runs on. */
  laneFree(): void;
  /** Units the response cache answered while the rest of the call goes on: settled beside it. */
  servedBeside(settled: Promise<Settled[]>): void;
}

/**
 * The stages one prepared call goes through, each ending it or handing it on: the response cache,
 * the budget's reservation of its worst case, a project lease for its model, the call itself. It
 * returns what became of the units; the scheduler decides what that means for its lanes.
 */
export class CallPipeline {
  constructor(private readonly options: CallPipelineOptions) {}

  async send(prepared: PreparedCall, model: string, pool: string | undefined, hooks: DispatchHooks): Promise<Dispatched> {
    const call = await this.fromCache(prepared, hooks);
    if ('served' in call) return { kind: 'settled', settled: await call.served };
    return this.reserveLeaseAndCall(call, model, pool, hooks);
  }

  /** Answers the response cache holds need no project, budget or quota. Returns the call for the others. */
  private async fromCache(call: PreparedCall, hooks: DispatchHooks): Promise<PreparedCall | { served: Promise<Settled[]> }> {
    const { executor } = this.options;
    if (!executor.fromCache) return call;
    const cached = await executor.fromCache(call);
    if (!cached.rest) {
      hooks.laneFree();
      return { served: cached.settled };
    }
    hooks.servedBeside(cached.settled);
    return cached.rest;
  }

  /** Reserves the call's worst case, leases a project for its model, and sends it. */
  private async reserveLeaseAndCall(call: PreparedCall, model: string, laneOfPool: string | undefined, hooks: DispatchHooks): Promise<Dispatched> {
    const { budget, pool, signal, executor } = this.options;
    const units = call.live.map((l) => l.unit);
    const reservation = await budget?.reserve(call.worstCaseUsd);
    if (reservation === RETRY_LATER) return { kind: 'budget_unreachable', units };
    if (budget && !reservation) return { kind: 'budget_refused', units, worstCaseUsd: call.worstCaseUsd, othersHolding: budget.holding };
    let settled = false;
    // Where the call went (known once leased), for spend shared with other runs.
    const where: { project?: string } = {};
    const settleBudget = (usd: number): void => {
      if (settled) return;
      settled = true;
      if (reservation) budget?.settle(reservation, usd, where.project);
      this.options.budgetSettled();
    };
    const lease = await pool.acquire(model, laneOfPool, signal, call.estimatedTokens);
    if (!lease) {
      settleBudget(0);
      return { kind: 'no_lease', units };
    }
    where.project = lease.project.name;
    hooks.laneFree();
    return { kind: 'settled', settled: await executor.execute(call, lease, settleBudget) };
  }
}
