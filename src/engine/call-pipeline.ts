import type { ProjectPool } from '../coordination/project-pool.js';
import { RETRY_LATER } from '../estimate/budget.js';
import type { BudgetHold, BudgetHolds } from './budget-hold.js';
import type { PreparedCall, Settled, Settlement, StepExecutor } from './executors/step-executor.js';
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
  holds: BudgetHolds;
  pool: ProjectPool;
  signal: AbortSignal;
}

export interface DispatchHooks {
  /** The lane may take its next lease: this call holds one (or needs none), and runs on. */
  laneFree(): void;
  /** Units the response cache answered while the rest of the call goes on: settled beside it. */
  servedBeside(settled: Promise<Settled[]>): void;
}

/**
 * The stages one prepared call goes through, each ending it or handing it on: the response cache,
 * the budget's hold of its worst case, a project lease for its model, the call itself, and the
 * settlement of the hold from what the call says it spent. It returns what became of the units;
 * the scheduler decides what that means for its lanes.
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

  /** Holds the call's worst case, leases a project for its model, sends it, and settles the hold. */
  private async reserveLeaseAndCall(call: PreparedCall, model: string, laneOfPool: string | undefined, hooks: DispatchHooks): Promise<Dispatched> {
    const { holds, pool, signal, executor } = this.options;
    const units = call.live.map((l) => l.unit);
    const hold = await holds.reserve(call.worstCaseUsd);
    if (hold === RETRY_LATER) return { kind: 'budget_unreachable', units };
    if (!hold) return { kind: 'budget_refused', units, worstCaseUsd: call.worstCaseUsd, othersHolding: holds.holding };
    const lease = await pool.acquire(model, laneOfPool, signal, call.estimatedTokens);
    if (!lease) {
      hold.settle(0);
      return { kind: 'no_lease', units };
    }
    hold.project = lease.project.name;
    hooks.laneFree();
    return { kind: 'settled', settled: settle(hold, await executor.execute(call, lease)) };
  }
}

/**
 * Settles a call's budget hold from its settlement: at what it spent, or, when it started an
 * operation that runs on, not yet: the hold goes with the parked operation, for its last poll.
 */
export function settle(hold: BudgetHold, settlement: Settlement): Settled[] {
  if (settlement.spentUsd !== undefined) hold.settle(settlement.spentUsd);
  else for (const s of settlement.settled) if (s.verdict.kind === 'parked') s.verdict.operation.hold = hold;
  return settlement.settled;
}
