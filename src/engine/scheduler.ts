import type { ProjectPool } from '../coordination/project-pool.js';
import type { GenbatchError } from '../errors/genbatch-error.js';
import type { SpendGuard } from '../estimate/budget.js';
import type { Job } from '../job/job.js';
import { StallWatch } from '../resilience/stall-watch.js';
import { steadyNow } from '../resilience/steady-clock.js';
import type { WorkItems } from '../store/interfaces/work-items.js';
import { BudgetHolds } from './budget-hold.js';
import type { EngineEvents } from './events.js';
import type { Executor, ParkedOperation, Settled, StepExecutor, UnitExecutor } from './executors/step-executor.js';
import { ItemFeed } from './item-feed.js';
import { Lanes } from './lane.js';
import { nothingMoves, serveLane, type LaneTurn, type SchedulerOutcome } from './lane-waits.js';
import { OnlineCalls } from './online-calls.js';
import { OperationPoller } from './operation-poller.js';
import { followingUnit, laneKey, type Unit } from './unit.js';
import { sleepOrWake, Wake } from './wake.js';

export type { SchedulerOutcome } from './lane-waits.js';

export interface SchedulerOptions {
  job: Job;
  store: WorkItems;
  pool: ProjectPool;
  executor: StepExecutor;
  /** Steps whose mode resolves to batch: their units go to Vertex AI batch prediction instead of a lane. */
  batch?: UnitExecutor | undefined;
  /** Units the batch executor took over from an earlier run's batch jobs (held in memory from the start). */
  adoptedUnits?: number;
  /** The job's budget, and the credentials file's shared daily budget when it has one. */
  budget: SpendGuard | undefined;
  /** Only the first N items with work left. */
  limit: number | undefined;
  signal: AbortSignal;
  emit: <K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]) => void;
  /** The budget refused a call: the run must stop (the engine records why). */
  onBudgetRefused: (worstCaseUsd: number) => void;
  /** A unit says the run must stop taking calls (the disk for outputs is full): the engine records why. */
  onStop: (error: GenbatchError) => void;
}

/** Most units held in memory at once: a lane that cannot be served does not pull in the whole input. */
const MAX_UNITS_IN_MEMORY = 5000;
/** Longest sleep of the dispatch loop without an event (cooldown ends are also timed exactly). */
const MAX_IDLE_MS = 1000;

/**
 * The ready queue. Units (item, step) wait in lanes per (pool, model); a unit's call is handed to
 * the online executor only when its lane has a project ready and a call slot is free. Units of batch
 * steps and resumed video operations go to their executors instead. Every executor hands back its
 * settlements at the scheduler's turns; the run stalls only when no lane with work can move for `max_stall`.
 */
export class Scheduler {
  private readonly lanes: Lanes;
  private readonly laneTurn: LaneTurn;
  private readonly online: OnlineCalls;
  private readonly operations: OperationPoller;
  private readonly holds: BudgetHolds;
  private readonly stall: StallWatch;
  private readonly completed: Record<string, number> = {};
  private readonly items: ItemFeed;
  private readonly wake = new Wake();
  private unitsInMemory = 0;
  /** Settlements handled so far: a turn that handled some looks again before deciding the run is finished. */
  private handled = 0;
  /** An error no reaction covers (a state conflict, a bug): the run stops and it is thrown. */
  private fatal: unknown;
  private halted = false;

  constructor(private readonly options: SchedulerOptions) {
    // Stalls are measured on the monotonic clock: a wall-clock step must not turn a wait into a stall at once.
    this.stall = new StallWatch(options.job.limits.maxStallMs, steadyNow);
    options.signal.addEventListener('abort', () => this.wake.notify(), { once: true });
    this.items = new ItemFeed(options.job, options.store, options.limit);
    this.lanes = new Lanes(options.job);
    this.holds = new BudgetHolds(options.budget);
    const { executor, pool, signal, emit, onBudgetRefused } = options;
    this.operations = new OperationPoller({ executor, pool, holds: this.holds, emit });
    this.online = new OnlineCalls({ executor, pool, signal, holds: this.holds, concurrency: options.job.limits.concurrency, onBudgetRefused });
    this.laneTurn = { stall: this.stall, pool, emit, enqueue: (unit) => this.enqueue(unit), dispatch: (lane, model) => this.online.dispatch(lane, model) };
  }

  /** Steps completed in this pass, per step name. */
  completedSteps(): Record<string, number> {
    return { ...this.completed };
  }

  /** The executors, in the order their turns are taken (online settlements may park operations). */
  private get executors(): Executor[] {
    return this.options.batch ? [this.online, this.operations, this.options.batch] : [this.online, this.operations];
  }

  /** Pulls items with work left, in input order, until the lanes that can move have enough to do. */
  private feed(): void {
    const lowWater = this.options.job.limits.concurrency * 4 + 64;
    const movable = (): number => this.lanes.movableReady((key) => this.stall.isBlocked(key));
    while (!this.items.done && this.unitsInMemory < MAX_UNITS_IN_MEMORY && movable() < lowWater) {
      for (const unit of this.items.nextPage()) {
        this.unitsInMemory += 1;
        this.enqueue(unit);
      }
    }
  }

  /** A unit goes to the executor that takes it (a batch step, a running operation), else to its lane. */
  private enqueue(unit: Unit): void {
    const taker = [this.options.batch, this.operations].find((e) => e?.takes(unit));
    if (taker) taker.add(unit);
    else this.lanes.of(unit).ready.push(unit);
  }

  /** One executor's turn: what it settled is handled; returns when it next needs a turn. */
  private turn(executor: Executor, now: number, drain: boolean): number {
    const turn = executor.turn(now, { drain, stopping: this.stopping });
    if (turn.failed !== undefined) this.halt(turn.failed);
    try {
      this.handle(turn.settled);
    } catch (error) {
      this.halt(error);
    }
    return turn.nextAt;
  }

  private handle(settled: Settled[]): void {
    this.handled += settled.length;
    const parked = new Map<ParkedOperation, Unit[]>();
    for (const { unit, verdict } of settled) {
      switch (verdict.kind) {
        case 'done': {
          this.completed[unit.step.name] = (this.completed[unit.step.name] ?? 0) + 1;
          this.stall.progressed(laneKey(this.options.job, unit.step));
          // A call got through: units refused by shared capacity need not wait out their backoff (the window paces them).
          for (const d of this.lanes.of(unit).delayed) if (d.waitingOn !== undefined) d.at = Math.min(d.at, steadyNow());
          const next = followingUnit(this.options.job, this.options.store, unit);
          if (next) this.enqueue(next);
          else this.unitsInMemory -= 1;
          break;
        }
        case 'failed':
        case 'filtered':
          // The unit reached an end: the run is moving.
          this.unitsInMemory -= 1;
          this.stall.progressed(laneKey(this.options.job, unit.step));
          break;
        case 'retry':
          this.lanes.delay(unit, steadyNow() + verdict.delayMs, verdict.waitingOn);
          break;
        case 'requeue':
          this.lanes.of(unit).ready.unshift(unit);
          break;
        case 'released':
        case 'stop':
          // Pending in the state; the next run takes it.
          this.unitsInMemory -= 1;
          if (verdict.kind === 'stop') this.options.onStop(verdict.error);
          break;
        case 'parked':
          parked.set(verdict.operation, [...(parked.get(verdict.operation) ?? []), unit]);
          break;
      }
    }
    for (const [operation, units] of parked) this.operations.park(operation, units);
  }

  private get stopping(): boolean {
    return this.options.signal.aborted || this.halted;
  }

  /** Records the first unexpected error and stops taking work; `run` throws it once the work in flight ends. */
  private halt(error: unknown): void {
    this.fatal ??= error;
    this.halted = true;
    this.wake.notify();
  }

  async run(): Promise<SchedulerOutcome> {
    this.unitsInMemory += this.options.adoptedUnits ?? 0;
    for (;;) {
      if (this.stopping) {
        const stopped = this.stoppedOutcome();
        if (stopped) return stopped;
        await this.sleepUntil(Number.POSITIVE_INFINITY);
        continue;
      }
      try {
        this.feed();
      } catch (error) {
        this.halt(error);
        continue;
      }
      const now = steadyNow();
      const handled = this.handled;
      let nextAt = Math.min(now + MAX_IDLE_MS, this.turn(this.online, now, false), this.turn(this.operations, now, false));
      if (this.stopping) continue;
      let canMove = this.online.busy || this.operations.busy;
      for (const lane of this.lanes.rotated()) {
        const served = serveLane(lane, now, this.laneTurn);
        canMove ||= served.canMove;
        nextAt = Math.min(nextAt, served.nextAt);
      }
      const lanes = this.lanes.all();
      let work = lanes.some((l) => l.ready.length > 0 || l.delayed.length > 0 || l.acquiring) || this.operations.busy || this.online.busy;
      const { batch } = this.options;
      if (batch) {
        // Gathered units are submitted in full chunks, and the rest once nothing more can come soon:
        // the input is read (or memory is full) and no online call is left that could lead to more.
        const drain = (this.items.done || this.unitsInMemory >= MAX_UNITS_IN_MEMORY) && !work;
        nextAt = Math.min(nextAt, this.turn(batch, now, drain));
        if (batch.busy) work = canMove = true;
      }
      // Units settled in this turn may have work for the lanes (a unit's next step, a retry): look again.
      if (this.handled !== handled && !work) continue;
      if (!work && this.items.done) {
        for (const executor of this.executors) executor.left();
        return { kind: 'finished' };
      }
      if (!work) continue; // the feed has more: pull it

      this.stall.observe(!canMove);
      if (!canMove) {
        const waited = nothingMoves(lanes, this.stall, this.options.job.limits, now, this.completed);
        if (typeof waited !== 'number') return waited;
        nextAt = Math.min(nextAt, waited);
      }
      await this.sleepUntil(nextAt);
    }
  }

  /** A stopping run's outcome once its calls and polls in flight have ended (undefined: not yet); operations and batch jobs are left running (`left`). */
  private stoppedOutcome(): SchedulerOutcome | undefined {
    const now = steadyNow();
    for (const executor of this.executors) this.turn(executor, now, false);
    if (this.executors.some((e) => e.inFlight > 0)) return undefined;
    if (this.fatal !== undefined) throw this.fatal;
    for (const executor of [...this.executors].reverse()) executor.left();
    return { kind: 'stopped' };
  }

  /** Sleeps until `at` (at most MAX_IDLE_MS), or until an executor, the budget, the pool or a stop says something changed. */
  private async sleepUntil(at: number): Promise<void> {
    const woken = [this.wake.next(), this.holds.freed.next(), this.options.pool.changed(), ...this.executors.map((e) => e.wake.next())];
    await sleepOrWake(Math.max(1, Math.min(MAX_IDLE_MS, at - steadyNow())), woken);
  }
}
