import type { Availability, ProjectPool } from '../coordination/project-pool.js';
import type { GenbatchError } from '../errors/genbatch-error.js';
import type { SpendGuard } from '../estimate/budget.js';
import type { Job } from '../job/job.js';
import { StallWatch, type BlockedLane } from '../resilience/stall-watch.js';
import { stopsForDailyReset } from '../resilience/daily-reset-stop.js';
import { steadyNow, toWall } from '../resilience/steady-clock.js';
import type { WorkItems } from '../store/interfaces/work-items.js';
import type { EngineEvents } from './events.js';
import type { BatchExecutor } from './executors/batch-executor.js';
import type { Settled, StepExecutor } from './executors/step-executor.js';
import { CallPipeline } from './call-pipeline.js';
import { chooseModel, describeLane, newLane, type Lane } from './lane.js';
import { OperationPoller } from './operation-poller.js';
import { ItemFeed } from './item-feed.js';
import { followingUnit, laneKey, type Unit } from './unit.js';

export type SchedulerOutcome =
  | { kind: 'finished' }
  | { kind: 'stopped' }
  | {
      kind: 'stalled';
      lanes: (BlockedLane & { pool: string; model: string })[];
      stalledForMs: number;
      completed: Record<string, number>;
      /** Since when every endpoint was unreachable, when that (limits.max_outage) is what stalled the run. */
      outageSince?: number;
    }
  | { kind: 'unusable'; reasons: string[] };

export interface SchedulerOptions {
  job: Job;
  store: WorkItems;
  pool: ProjectPool;
  executor: StepExecutor;
  /** Steps whose mode resolves to batch: their units go to Vertex AI batch prediction instead of a lane. */
  batch?: BatchExecutor | undefined;
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
 * The ready queue. Units (item, step) wait in lanes per (pool, model); a unit is handed to the
 * executor only when its lane has a project ready and a call slot is free (`limits.concurrency`
 * bounds calls in flight). An item whose next step waits holds nothing, so earlier steps of other
 * items go on; retries wait out their backoff in the lane, and video operations are parked and
 * polled without a slot. The run stalls only when no lane with work can move for `max_stall`.
 */
export class Scheduler {
  private readonly lanes = new Map<string, Lane>();
  private readonly operations: OperationPoller;
  private readonly calls: CallPipeline;
  private readonly stall: StallWatch;
  private readonly completed: Record<string, number> = {};
  private inFlight = 0;
  private unitsInMemory = 0;
  private readonly items: ItemFeed;
  private rotation = 0;
  private wake: (() => void) | undefined;
  private wakeSignal: Promise<void>;
  /** Calls settled so far (each may free budget reserved for it). */
  private settles = 0;
  /** Set when the budget could not cover one more call while others were in flight: no call is dispatched until one of them settles. */
  private budgetWaitAfter: number | undefined;
  /** An error no reaction covers (a state conflict, a bug): the run stops and it is thrown. */
  private fatal: unknown;
  private halted = false;

  constructor(private readonly options: SchedulerOptions) {
    // Stalls are measured on the monotonic clock: a wall-clock step must not turn a wait into a stall at once.
    this.stall = new StallWatch(options.job.limits.maxStallMs, steadyNow);
    this.wakeSignal = this.newWakeSignal();
    options.signal.addEventListener('abort', () => this.notify(), { once: true });
    this.items = new ItemFeed(options.job, options.store, options.limit);
    this.operations = new OperationPoller({
      executor: options.executor,
      pool: options.pool,
      emit: options.emit,
      settled: (settled) => this.handle(settled),
      failed: (error) => this.halt(error),
      changed: () => this.notify(),
    });
    this.calls = new CallPipeline({
      executor: options.executor,
      budget: options.budget,
      pool: options.pool,
      signal: options.signal,
      budgetSettled: () => this.callSettled(),
    });
  }

  private newWakeSignal(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wakeSignal = this.newWakeSignal();
    wake?.();
  }

  /** Steps completed in this pass, per step name. */
  completedSteps(): Record<string, number> {
    return { ...this.completed };
  }

  private lane(unit: Unit): Lane {
    const key = laneKey(this.options.job, unit.step);
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = newLane(this.options.job, unit);
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /** Pulls items with work left, in input order, until the lanes that can move have enough to do. */
  private feed(): void {
    const lowWater = this.options.job.limits.concurrency * 4 + 64;
    while (!this.items.done && this.unitsInMemory < MAX_UNITS_IN_MEMORY && this.movableReady() < lowWater) {
      for (const unit of this.items.nextPage()) {
        this.unitsInMemory += 1;
        this.enqueue(unit);
      }
    }
  }

  private movableReady(): number {
    let n = 0;
    for (const lane of this.lanes.values()) if (!this.stall.isBlocked(lane.key) && lane.unusable === undefined) n += lane.ready.length;
    return n;
  }

  /** A unit goes to its lane, or, when it has a running operation, straight to the parked list. */
  private enqueue(unit: Unit): void {
    if (this.options.batch?.takes(unit)) {
      this.options.batch.add(unit);
      return;
    }
    if (unit.operationName && unit.operationProject) {
      const resumed = this.options.executor.resumeOperation(unit, (worstCaseUsd, alreadyCounted) => {
        // The operation is already being paid for: hold its worst case, without refusing it.
        const budget = this.options.budget;
        const reservation = budget?.hold(worstCaseUsd, alreadyCounted);
        return (usd) => {
          if (reservation) budget?.settle(reservation, usd, unit.operationProject);
          this.callSettled();
        };
      });
      if (Array.isArray(resumed)) this.handle(resumed);
      else this.operations.park(resumed, [unit], true);
      return;
    }
    this.lane(unit).ready.push(unit);
  }

  /** A unit reached an end (done with no step left, failed, filtered). */
  private resolved(unit: Unit): void {
    this.unitsInMemory -= 1;
    this.stall.progressed(laneKey(this.options.job, unit.step));
  }

  private handle(settled: Settled[]): void {
    let parkedCall = false;
    for (const { unit, verdict } of settled) {
      switch (verdict.kind) {
        case 'done': {
          this.completed[unit.step.name] = (this.completed[unit.step.name] ?? 0) + 1;
          this.stall.progressed(laneKey(this.options.job, unit.step));
          // A call got through: units refused by shared capacity need not wait out their backoff (the window paces them).
          for (const d of this.lane(unit).delayed) if (d.waitingOn !== undefined) d.at = Math.min(d.at, steadyNow());
          const next = followingUnit(this.options.job, this.options.store, unit);
          if (next) this.enqueue(next);
          else this.unitsInMemory -= 1;
          break;
        }
        case 'failed':
        case 'filtered':
          this.resolved(unit);
          break;
        case 'retry':
          this.lane(unit).delayed.push({
            unit,
            at: steadyNow() + verdict.delayMs,
            ...(verdict.waitingOn === undefined ? {} : { waitingOn: verdict.waitingOn }),
          });
          break;
        case 'requeue':
          this.lane(unit).ready.unshift(unit);
          break;
        case 'released':
          // Pending in the state; the next run takes it.
          this.unitsInMemory -= 1;
          break;
        case 'stop':
          // Pending in the state; the next run takes it.
          this.unitsInMemory -= 1;
          this.options.onStop(verdict.error);
          break;
        case 'parked':
          if (!parkedCall)
            this.operations.park(
              verdict.operation,
              settled.map((s) => s.unit),
              false,
            );
          parkedCall = true;
          break;
      }
    }
  }

  private get stopping(): boolean {
    return this.options.signal.aborted || this.halted;
  }

  /** Records the first unexpected error and stops taking work; `run` throws it once calls in flight end. */
  private halt(error: unknown): void {
    this.fatal ??= error;
    this.halted = true;
    this.notify();
  }

  /** Units a batch job settled: handled like a call's, between turns of the loop. */
  batchSettled(settled: Settled[]): void {
    try {
      this.handle(settled);
    } catch (error) {
      this.halt(error);
    }
    this.notify();
  }

  /** An error of the batch executor that no reaction covers: the run stops and it is thrown. */
  batchFailed(error: unknown): void {
    this.halt(error);
  }

  async run(): Promise<SchedulerOutcome> {
    const { batch } = this.options;
    this.unitsInMemory += batch?.adoptedUnits ?? 0;
    for (;;) {
      if (this.stopping) {
        const stopped = this.stoppedOutcome();
        if (stopped) return stopped;
        await this.wakeSignal;
        continue;
      }
      try {
        this.feed();
      } catch (error) {
        this.halt(error);
        continue;
      }
      const now = steadyNow();
      let canMove = this.inFlight > 0 || this.operations.busy;
      let nextAt = Math.min(now + MAX_IDLE_MS, this.operations.tick(now));
      const lanes = [...this.lanes.values()];
      const start = this.rotation++ % Math.max(1, lanes.length);
      for (const lane of [...lanes.slice(start), ...lanes.slice(0, start)]) {
        const served = this.serveLane(lane, now);
        canMove ||= served.canMove;
        nextAt = Math.min(nextAt, served.nextAt);
      }

      let work = lanes.some((l) => l.ready.length > 0 || l.delayed.length > 0 || l.acquiring) || this.operations.busy || this.inFlight > 0;
      if (batch) {
        // Gathered units are submitted in full chunks, and the rest once nothing more can come soon:
        // the input is read (or memory is full) and no online call is left that could lead to more.
        const drain = (this.items.done || this.unitsInMemory >= MAX_UNITS_IN_MEMORY) && !work;
        nextAt = Math.min(nextAt, batch.tick(now, drain));
        if (batch.busy) {
          work = true;
          canMove = true;
        }
      }
      if (!work && this.items.done) {
        batch?.left();
        return { kind: 'finished' };
      }
      if (!work) continue; // the feed has more: pull it

      this.stall.observe(!canMove);
      if (!canMove) {
        const waited = this.nothingMoves(lanes, now);
        if (typeof waited !== 'number') return waited;
        nextAt = Math.min(nextAt, waited);
      }
      await this.sleepUntil(nextAt);
    }
  }

  /** A stopping run's outcome once its calls and polls in flight have ended (undefined: not yet). */
  private stoppedOutcome(): SchedulerOutcome | undefined {
    const { batch } = this.options;
    if (this.inFlight > 0 || this.operations.polling || (batch?.inFlight ?? 0) > 0) return undefined;
    if (this.fatal !== undefined) throw this.fatal;
    batch?.left();
    // Operations are not waited for (they can run for minutes, past a service manager's stop
    // timeout): their names are checkpointed, and the next run polls them.
    if (this.operations.count > 0) this.options.emit('operations:left', { count: this.operations.count });
    return { kind: 'stopped' };
  }

  /** One lane's turn: units back from their backoff rejoin it, and a call is dispatched if a project is ready. */
  private serveLane(lane: Lane, now: number): { canMove: boolean; nextAt: number } {
    let canMove = false;
    let nextAt = Number.POSITIVE_INFINITY;
    const due = lane.delayed.filter((d) => d.at <= now);
    if (due.length > 0) {
      lane.delayed = lane.delayed.filter((d) => d.at > now);
      // Through enqueue: a unit whose operation is still running at Vertex is polled again, not restarted.
      for (const d of due) this.enqueue(d.unit);
    }
    for (const d of lane.delayed) nextAt = Math.min(nextAt, d.at);
    if (lane.delayed.some((d) => d.waitingOn === undefined)) canMove = true;
    else if (lane.delayed.length > 0 && lane.ready.length === 0) {
      // Every unit left here was refused by shared capacity: the lane waits on it (a stall, if nothing gets through for limits.max_stall).
      const first = lane.delayed[0] as { at: number; waitingOn?: string };
      this.stall.block(lane.key, undefined, `waiting on ${first.waitingOn ?? 'shared capacity'}: every call refused (429)`);
    }
    if (lane.ready.length === 0 || lane.acquiring) return { canMove, nextAt };
    const { model, availability } = chooseModel(lane, this.options.pool, this.options.emit);
    if (availability.state === 'ready') {
      lane.unusable = undefined;
      lane.outageSince = undefined;
      this.stall.unblock(lane.key);
      lane.announced = undefined;
      if (this.inFlight < this.options.job.limits.concurrency && !this.waitingForBudget()) void this.dispatch(lane, model);
      return { canMove: true, nextAt };
    }
    this.blocked(lane, availability);
    if (availability.state === 'waiting' && availability.until !== undefined) nextAt = Math.min(nextAt, availability.until + 1);
    return { canMove, nextAt };
  }

  /**
   * Nothing can move: the run is unusable, stalled (limits.max_stall) or out of reach (limits.max_outage),
   * or it waits; then when to look again.
   */
  private nothingMoves(lanes: Lane[], now: number): SchedulerOutcome | number {
    let nextAt = Number.POSITIVE_INFINITY;
    const waiting = lanes.filter((l) => l.ready.length > 0 || l.delayed.length > 0);
    if (waiting.length > 0 && waiting.every((l) => l.unusable !== undefined))
      return { kind: 'unusable', reasons: waiting.map((l) => `${describeLane(l)}: ${l.unusable ?? ''}`) };
    // A known daily reset further than max_stall: waiting it out would end in the same stall, later.
    if (
      this.stall.expired() ||
      stopsForDailyReset(
        waiting.map((l) => l.key),
        this.stall.lanes(),
        steadyNow(),
        { maxStallMs: this.options.job.limits.maxStallMs, stalledForMs: this.stall.stalledForMs() },
      )
    )
      return this.stalled(waiting);
    const left = this.stall.remainingMs();
    if (left !== undefined) nextAt = steadyNow() + left;
    // Every lane with work waits on unreachable endpoints: limits.max_outage bounds that, from the outage's start.
    const outages = waiting.map((l) => l.outageSince);
    if (outages.length > 0 && outages.every((t): t is number => t !== undefined)) {
      const since = Math.max(...outages);
      const deadline = since + this.options.job.limits.maxOutageMs;
      if (now >= deadline) return this.stalled(waiting, since);
      nextAt = Math.min(nextAt, deadline);
    }
    return nextAt;
  }

  private blocked(lane: Lane, availability: Exclude<Availability, { state: 'ready' }>): void {
    lane.outageSince = availability.state === 'waiting' ? availability.outageSince : undefined;
    if (availability.state === 'unusable') {
      lane.unusable = availability.reason;
      this.stall.block(lane.key, undefined, availability.reason);
    } else {
      this.stall.block(lane.key, availability.until, availability.reason, availability.daily === true);
    }
    // A full shared-capacity window is the normal pace of a run (its calls are in flight): not announced.
    if (availability.state === 'waiting' && availability.sharedCapacity) return;
    const announcement = `${availability.reason}@${availability.state === 'waiting' ? (availability.until ?? '') : ''}`;
    if (lane.announced === announcement) return;
    lane.announced = announcement;
    this.options.emit('run:waiting', {
      reason: `${describeLane(lane)}: ${availability.reason}`,
      untilMs: toWall(availability.state === 'waiting' ? (availability.until ?? steadyNow()) : steadyNow()),
    });
  }

  private stalled(waiting: Lane[], outageSince?: number): SchedulerOutcome {
    const keys = new Set(waiting.map((l) => l.key));
    const lanes = this.stall
      .lanes()
      .filter((b) => keys.has(b.key))
      .map((b) => {
        const lane = this.lanes.get(b.key) as Lane;
        // Shown to people (and saved): on the wall clock.
        const back = b.expectedBackAt === undefined ? {} : { expectedBackAt: toWall(b.expectedBackAt) };
        return { ...b, ...back, pool: lane.pool ?? 'default', model: lane.models.join(', ') };
      });
    return {
      kind: 'stalled',
      lanes,
      stalledForMs: outageSince === undefined ? this.stall.stalledForMs() : steadyNow() - outageSince,
      completed: this.completedSteps(),
      ...(outageSince === undefined ? {} : { outageSince }),
    };
  }

  private async sleepUntil(at: number): Promise<void> {
    const ms = Math.max(1, Math.min(MAX_IDLE_MS, at - steadyNow()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.wakeSignal, this.options.pool.changed(), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  private waitingForBudget(): boolean {
    return this.budgetWaitAfter !== undefined && this.settles <= this.budgetWaitAfter;
  }

  private callSettled(): void {
    this.settles += 1;
    this.notify();
  }

  /** Takes a batch from the lane and sends it through the call pipeline (cache, budget, lease, call). */
  private async dispatch(lane: Lane, model: string): Promise<void> {
    const { executor } = this.options;
    const first = lane.ready[0];
    if (!first) return;
    const units = lane.ready.splice(0, executor.batchSize(first.step));
    lane.acquiring = true;
    this.inFlight += 1;
    try {
      const prepared = executor.prepare(units);
      for (const r of prepared.rejected) this.resolved(r.unit);
      if (prepared.deferred) lane.ready.unshift(...prepared.deferred);
      if (!prepared.call) return;
      const outcome = await this.calls.send(prepared.call, model, lane.pool, {
        laneFree: () => {
          lane.acquiring = false;
          this.notify();
        },
        servedBeside: (served) => this.servedBeside(served),
      });
      if (outcome.kind === 'settled') {
        this.handle(outcome.settled);
        return;
      }
      lane.ready.unshift(...outcome.units);
      // Fewer calls at once when the money left cannot cover `concurrency` worst cases: wait for a
      // call in flight to settle (for less than it reserved, most often). Stop only when no call
      // holds a reservation and the next one still does not fit.
      if (outcome.kind === 'budget_refused') {
        if (outcome.othersHolding) this.budgetWaitAfter = this.settles;
        else this.options.onBudgetRefused(outcome.worstCaseUsd);
      }
    } catch (error) {
      this.halt(error);
    } finally {
      lane.acquiring = false;
      this.inFlight -= 1;
      this.notify();
    }
  }

  /** Units the cache answered while the rest of their call goes on: counted in flight until settled. */
  private servedBeside(served: Promise<Settled[]>): void {
    this.inFlight += 1;
    void served
      .then((settled) => this.handle(settled))
      .catch((error: unknown) => this.halt(error))
      .finally(() => {
        this.inFlight -= 1;
        this.notify();
      });
  }
}
