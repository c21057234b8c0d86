import type { ProjectPool } from '../coordination/project-pool.js';
import { steadyNow } from '../resilience/steady-clock.js';
import type { BudgetHolds } from './budget-hold.js';
import type { EngineEvents } from './events.js';
import { MAX_FAILED_POLLS } from './executors/online-executor.js';
import type { ParkedOperation, Settled, Settlement, StepExecutor, Turn, TurnOptions, UnitExecutor } from './executors/step-executor.js';
import type { Unit } from './unit.js';
import { Wake } from './wake.js';

/** A video operation running at Vertex, polled between other work. */
interface Parked {
  operation: ParkedOperation;
  units: Unit[];
  polls: number;
  failedPolls: number;
  nextAt: number;
  polling: boolean;
}

export interface OperationPollerOptions {
  executor: StepExecutor;
  pool: ProjectPool;
  holds: BudgetHolds;
  emit: <K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]) => void;
}

/**
 * Long-running operations (Veo videos) parked while Vertex works: polled on their own schedule,
 * without a call slot or a limiter, on the client of the project that started them. It takes the
 * units whose operation an earlier run started, and the operations calls start (`park`); an
 * operation that ends settles its budget hold from its last poll's settlement.
 */
export class OperationPoller implements UnitExecutor {
  readonly wake = new Wake();
  private readonly parked: Parked[] = [];
  private pollsInFlight = 0;
  private settled: Settled[] = [];
  private failed: unknown;

  constructor(private readonly options: OperationPollerOptions) {}

  /** Operations waiting at Vertex. */
  get count(): number {
    return this.parked.length;
  }

  /** Whether any operation is parked or being polled (the run has work). */
  get busy(): boolean {
    return this.parked.length > 0 || this.pollsInFlight > 0;
  }

  /** Polls in flight (a stopping run waits for them). */
  get inFlight(): number {
    return this.pollsInFlight;
  }

  /** A unit whose operation an earlier run started: polled instead of started again. */
  takes(unit: Unit): boolean {
    return unit.operationName !== undefined && unit.operationProject !== undefined;
  }

  /** Parks the unit's operation (its worst case held again, without refusing it: it is already being paid for). */
  add(unit: Unit): void {
    const resumed = this.options.executor.resumeOperation(unit);
    if (Array.isArray(resumed)) {
      this.settled.push(...resumed);
      return;
    }
    resumed.operation.hold = this.options.holds.hold(resumed.holdUsd, resumed.counted, resumed.operation.project);
    this.park(resumed.operation, [unit], true);
  }

  /** Parks an operation a call started (its hold came with it), or one resumed. */
  park(operation: ParkedOperation, units: Unit[], resumed = false): void {
    this.parked.push({ operation, units, polls: 0, failedPolls: 0, nextAt: steadyNow() + this.options.executor.pollDelayMs(0), polling: false });
    const lead = units[0];
    if (resumed && lead)
      this.options.emit('operation:pending', { itemId: lead.item.id, step: lead.step.name, operationName: operation.operationName, resumed: true });
  }

  /** Polls the operations that are due (none when stopping); returns what ended and when the next one is due. */
  turn(now: number, how: TurnOptions): Turn {
    let nextAt = Number.POSITIVE_INFINITY;
    for (const entry of this.parked) {
      if (entry.polling || how.stopping) continue;
      if (entry.nextAt <= now) this.poll(entry);
      else nextAt = Math.min(nextAt, entry.nextAt);
    }
    const turn: Turn = { settled: this.settled, nextAt };
    this.settled = [];
    if (this.failed !== undefined) turn.failed = this.failed;
    this.failed = undefined;
    return turn;
  }

  /** Operations are not waited for (they can run for minutes): their names are checkpointed, and the next run polls them. */
  left(): void {
    if (this.parked.length > 0) this.options.emit('operations:left', { count: this.parked.length });
  }

  private poll(entry: Parked): void {
    const { executor, pool } = this.options;
    entry.polling = true;
    this.pollsInFlight += 1;
    const client = pool.clientFor(entry.operation.project);
    const polled = client
      ? executor.poll(entry.operation, client)
      : Promise.resolve({ kind: 'poll_failed' as const, error: new Error(`project "${entry.operation.project}" that started the operation is gone`) });
    void polled
      .then(async (outcome) => {
        if (outcome.kind === 'settled') return this.ended(entry, outcome);
        entry.polls += 1;
        entry.nextAt = steadyNow() + executor.pollDelayMs(entry.polls);
        if (outcome.kind === 'running') {
          entry.failedPolls = 0;
          return;
        }
        entry.failedPolls += 1;
        if (entry.failedPolls > MAX_FAILED_POLLS || !client) this.ended(entry, await executor.pollsExhausted(entry.operation, outcome.error));
      })
      .catch((error: unknown) => (this.failed ??= error))
      .finally(() => {
        entry.polling = false;
        this.pollsInFlight -= 1;
        this.wake.notify();
      });
  }

  /** An operation ended (or its polls gave out): its hold settled from what it spent, its units handed back. */
  private ended(entry: Parked, settlement: Settlement): void {
    const index = this.parked.indexOf(entry);
    if (index >= 0) this.parked.splice(index, 1);
    entry.operation.hold?.settle(settlement.spentUsd ?? 0);
    this.settled.push(...settlement.settled);
  }
}
