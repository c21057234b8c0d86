import type { Availability, ProjectPool } from '../coordination/project-pool.js';
import type { GenbatchError } from '../errors/genbatch-error.js';
import { RETRY_LATER, type SpendGuard } from '../estimate/budget.js';
import type { Job } from '../job/job.js';
import { StallWatch, type BlockedLane } from '../resilience/stall-watch.js';
import type { StateStore } from '../store/state-store.js';
import type { EngineEvents } from './events.js';
import { MAX_FAILED_POLLS } from './executors/online-executor.js';
import type { BatchExecutor } from './executors/batch-executor.js';
import type { ParkedOperation, Settled, StepExecutor } from './executors/step-executor.js';
import { modelsOf } from '../job/job.js';
import { followingUnit, laneKey, nextUnit, type Unit } from './unit.js';

/** Units of one pool and model, waiting for a project of that pool to be ready for that model. */
interface Lane {
  key: string;
  pool: string | undefined;
  /** The step's model, then its fallbacks: the first that a project can serve now takes the call. */
  models: string[];
  /** The model that took the last call (announced when it changes). */
  serving: string;
  ready: Unit[];
  /** Units waiting out a retry backoff: they hold no worker meanwhile. */
  /** Units back after a backoff; `waitingOn`: refused by shared capacity (they wait, they do not move the run). */
  delayed: { unit: Unit; at: number; waitingOn?: string }[];
  /** A lease is being taken for this lane (one at a time, so the limiter's order is kept). */
  acquiring: boolean;
  /** Why no project can ever serve this lane in this run, if so. */
  unusable: string | undefined;
  /** The last waiting state announced, so `run:waiting` is said once per change. */
  announced: string | undefined;
  /** Since when every project of the lane has been unreachable, while that lasts. */
  outageSince: number | undefined;
}

/** A video operation running at Vertex, polled by the scheduler between other work. */
interface Parked {
  operation: ParkedOperation;
  units: Unit[];
  polls: number;
  failedPolls: number;
  nextAt: number;
  polling: boolean;
}

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
  store: StateStore;
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

const PAGE = 256;
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
  private readonly parked: Parked[] = [];
  private readonly stall: StallWatch;
  private readonly completed: Record<string, number> = {};
  private inFlight = 0;
  private pollsInFlight = 0;
  private unitsInMemory = 0;
  private cursor = -1;
  private taken = 0;
  private feedDone = false;
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
    this.stall = new StallWatch(options.job.limits.maxStallMs, () => performance.now());
    this.wakeSignal = this.newWakeSignal();
    options.signal.addEventListener('abort', () => this.notify(), { once: true });
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
      lane = {
        key,
        pool: unit.step.pool ?? this.options.job.pool,
        models: modelsOf(unit.step),
        serving: unit.step.model,
        ready: [],
        delayed: [],
        acquiring: false,
        unusable: undefined,
        announced: undefined,
        outageSince: undefined,
      };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /** Pulls items with work left, in input order, until the lanes that can move have enough to do. */
  private feed(): void {
    const { store, job, limit } = this.options;
    const lowWater = job.limits.concurrency * 4 + 64;
    while (!this.feedDone && this.unitsInMemory < MAX_UNITS_IN_MEMORY && this.movableReady() < lowWater) {
      const page = store.pendingItems(this.cursor, PAGE);
      if (page.length === 0) {
        this.feedDone = true;
        break;
      }
      for (const item of page) {
        if (limit !== undefined && this.taken >= limit) {
          this.feedDone = true;
          break;
        }
        this.cursor = item.ord;
        this.taken += 1;
        const unit = nextUnit(job, store.itemSteps(item.id), item);
        if (unit) {
          this.unitsInMemory += 1;
          this.enqueue(unit);
        }
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
      else this.park(resumed, [unit], true);
      return;
    }
    this.lane(unit).ready.push(unit);
  }

  private park(operation: ParkedOperation, units: Unit[], resumed: boolean): void {
    this.parked.push({ operation, units, polls: 0, failedPolls: 0, nextAt: Date.now() + this.options.executor.pollDelayMs(0), polling: false });
    const lead = units[0];
    if (resumed && lead)
      this.options.emit('operation:pending', { itemId: lead.item.id, step: lead.step.name, operationName: operation.operationName, resumed: true });
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
          for (const d of this.lane(unit).delayed) if (d.waitingOn !== undefined) d.at = Math.min(d.at, Date.now());
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
            at: Date.now() + verdict.delayMs,
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
            this.park(
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
    const { job, batch } = this.options;
    this.unitsInMemory += batch?.adoptedUnits ?? 0;
    for (;;) {
      if (this.stopping) {
        if (this.inFlight === 0 && this.pollsInFlight === 0 && (batch?.inFlight ?? 0) === 0) {
          if (this.fatal !== undefined) throw this.fatal;
          batch?.left();
          // Operations are not waited for (they can run for minutes, past a service manager's stop
          // timeout): their names are checkpointed, and the next run polls them.
          if (this.parked.length > 0) this.options.emit('operations:left', { count: this.parked.length });
          return { kind: 'stopped' };
        }
        await this.wakeSignal;
        continue;
      }
      try {
        this.feed();
      } catch (error) {
        this.halt(error);
        continue;
      }
      const now = Date.now();
      let nextAt = now + MAX_IDLE_MS;
      let canMove = this.inFlight > 0 || this.pollsInFlight > 0 || this.parked.length > 0;

      for (const entry of this.parked) {
        if (entry.polling) continue;
        if (entry.nextAt <= now) this.poll(entry);
        else nextAt = Math.min(nextAt, entry.nextAt);
      }

      const lanes = [...this.lanes.values()];
      const start = this.rotation++ % Math.max(1, lanes.length);
      for (const lane of [...lanes.slice(start), ...lanes.slice(0, start)]) {
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
        if (lane.ready.length === 0 || lane.acquiring) continue;
        const { model, availability } = this.choose(lane);
        if (availability.state === 'ready') {
          lane.unusable = undefined;
          lane.outageSince = undefined;
          this.stall.unblock(lane.key);
          lane.announced = undefined;
          canMove = true;
          if (this.inFlight < job.limits.concurrency && !this.waitingForBudget()) void this.dispatch(lane, model);
        } else {
          this.blocked(lane, availability);
          if (availability.state === 'waiting' && availability.until !== undefined) nextAt = Math.min(nextAt, availability.until + 1);
        }
      }

      let work =
        lanes.some((l) => l.ready.length > 0 || l.delayed.length > 0 || l.acquiring) || this.parked.length > 0 || this.inFlight > 0 || this.pollsInFlight > 0;
      if (batch) {
        // Gathered units are submitted in full chunks, and the rest once nothing more can come soon:
        // the input is read (or memory is full) and no online call is left that could lead to more.
        const drain = (this.feedDone || this.unitsInMemory >= MAX_UNITS_IN_MEMORY) && !work;
        nextAt = Math.min(nextAt, batch.tick(now, drain));
        if (batch.busy) {
          work = true;
          canMove = true;
        }
      }
      if (!work && this.feedDone) {
        batch?.left();
        return { kind: 'finished' };
      }
      if (!work) continue; // the feed has more: pull it

      this.stall.observe(!canMove);
      if (!canMove) {
        const waiting = lanes.filter((l) => l.ready.length > 0 || l.delayed.length > 0);
        if (waiting.length > 0 && waiting.every((l) => l.unusable !== undefined))
          return { kind: 'unusable', reasons: waiting.map((l) => `${describeLane(l)}: ${l.unusable ?? ''}`) };
        if (this.stall.expired()) return this.stalled(waiting);
        const left = this.stall.remainingMs();
        if (left !== undefined) nextAt = Math.min(nextAt, Date.now() + left);
        // Every lane with work waits on unreachable endpoints: limits.max_outage bounds that, from the outage's start.
        const outages = waiting.map((l) => l.outageSince);
        if (outages.length > 0 && outages.every((t): t is number => t !== undefined)) {
          const since = Math.max(...outages);
          const deadline = since + job.limits.maxOutageMs;
          if (now >= deadline) return this.stalled(waiting, since);
          nextAt = Math.min(nextAt, deadline);
        }
      }
      await this.sleepUntil(nextAt);
    }
  }

  /**
   * The model that takes the lane's next call: its step's model when a project can serve it now,
   * else the first fallback that can. None can: the primary's state, waiting until the first of
   * them may be back (unusable only when none ever can in this run).
   */
  private choose(lane: Lane): { model: string; availability: Availability } {
    const { pool } = this.options;
    const primary = lane.models[0] as string;
    const states: { model: string; availability: Availability }[] = [];
    for (const model of lane.models) {
      const availability = pool.availability(model, lane.pool);
      if (availability.state === 'ready') {
        if (model !== lane.serving) {
          const why = states[0]?.availability;
          this.options.emit('model:fallback', {
            pool: lane.pool ?? 'default',
            model,
            primary,
            reason: model === primary ? `${primary} can be served again` : `${primary}: ${why && why.state !== 'ready' ? why.reason : 'not available'}`,
          });
          lane.serving = model;
        }
        return { model, availability };
      }
      states.push({ model, availability });
    }
    const only = states[0];
    if (states.length === 1 && only) return only;
    const reason = states.map((s) => `${s.model}: ${s.availability.state === 'ready' ? 'ready' : s.availability.reason}`).join('; ');
    const waiting = states.flatMap((s) => (s.availability.state === 'waiting' ? [{ model: s.model, ...s.availability }] : []));
    const first = waiting[0];
    if (!first) return { model: primary, availability: { state: 'unusable', reason } };
    const untils = waiting.map((w) => w.until);
    const until = untils.every((t): t is number => t !== undefined) ? Math.min(...untils) : undefined;
    const outages = waiting.map((w) => w.outageSince);
    return {
      model: first.model,
      availability: {
        state: 'waiting',
        until,
        reason,
        ...(outages.every((t): t is number => t !== undefined) ? { outageSince: Math.min(...outages) } : {}),
      },
    };
  }

  private blocked(lane: Lane, availability: Exclude<Availability, { state: 'ready' }>): void {
    lane.outageSince = availability.state === 'waiting' ? availability.outageSince : undefined;
    if (availability.state === 'unusable') {
      lane.unusable = availability.reason;
      this.stall.block(lane.key, undefined, availability.reason);
    } else {
      this.stall.block(lane.key, availability.until, availability.reason);
    }
    // A full shared-capacity window is the normal pace of a run (its calls are in flight): not announced.
    if (availability.state === 'waiting' && availability.sharedCapacity) return;
    const announcement = `${availability.reason}@${availability.state === 'waiting' ? (availability.until ?? '') : ''}`;
    if (lane.announced === announcement) return;
    lane.announced = announcement;
    this.options.emit('run:waiting', {
      reason: `${describeLane(lane)}: ${availability.reason}`,
      untilMs: availability.state === 'waiting' ? (availability.until ?? Date.now()) : Date.now(),
    });
  }

  private stalled(waiting: Lane[], outageSince?: number): SchedulerOutcome {
    const keys = new Set(waiting.map((l) => l.key));
    const lanes = this.stall
      .lanes()
      .filter((b) => keys.has(b.key))
      .map((b) => {
        const lane = this.lanes.get(b.key) as Lane;
        return { ...b, pool: lane.pool ?? 'default', model: lane.models.join(', ') };
      });
    return {
      kind: 'stalled',
      lanes,
      stalledForMs: outageSince === undefined ? this.stall.stalledForMs() : Date.now() - outageSince,
      completed: this.completedSteps(),
      ...(outageSince === undefined ? {} : { outageSince }),
    };
  }

  private async sleepUntil(at: number): Promise<void> {
    const ms = Math.max(1, Math.min(MAX_IDLE_MS, at - Date.now()));
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

  /** Takes a batch from the lane, reserves its worst case, leases a project, and runs the call. */
  private async dispatch(lane: Lane, model: string): Promise<void> {
    const { executor, budget, pool, signal } = this.options;
    const first = lane.ready[0];
    if (!first) return;
    const units = lane.ready.splice(0, executor.batchSize(first.step));
    lane.acquiring = true;
    this.inFlight += 1;
    try {
      const prepared = executor.prepare(units);
      for (const r of prepared.rejected) this.resolved(r.unit);
      if (prepared.deferred) lane.ready.unshift(...prepared.deferred);
      let call = prepared.call;
      if (!call) return;
      if (executor.fromCache) {
        // Answers the cache holds need no project, budget or quota: the lane may go on meanwhile.
        const cached = await executor.fromCache(call);
        call = cached.rest;
        if (!call) {
          lane.acquiring = false;
          this.notify();
          this.handle(await cached.settled);
          return;
        }
        // Some units served, the others go on as a call: the served ones settle beside it, counted in flight.
        this.inFlight += 1;
        void cached.settled
          .then((s) => this.handle(s))
          .catch((error: unknown) => this.halt(error))
          .finally(() => {
            this.inFlight -= 1;
            this.notify();
          });
      }
      const reservation = await budget?.reserve(call.worstCaseUsd);
      if (reservation === RETRY_LATER) {
        // A shared budget that cannot be asked now (its coordination server is away): the lane waits, as its projects do.
        lane.ready.unshift(...call.live.map((l) => l.unit));
        return;
      }
      if (budget && !reservation) {
        lane.ready.unshift(...call.live.map((l) => l.unit));
        // Fewer calls at once when the money left cannot cover `concurrency` worst cases: wait for
        // a call in flight to settle (for less than it reserved, most often). Stop only when no
        // call holds a reservation and the next one still does not fit.
        if (budget.holding) this.budgetWaitAfter = this.settles;
        else this.options.onBudgetRefused(call.worstCaseUsd);
        return;
      }
      let settled = false;
      // Where the call went (known once leased), for spend shared with other runs.
      const where: { project?: string } = {};
      const settleBudget = (usd: number): void => {
        if (settled) return;
        settled = true;
        if (reservation) budget?.settle(reservation, usd, where.project);
        this.callSettled();
      };
      const lease = await pool.acquire(model, lane.pool, signal, call.estimatedTokens);
      lane.acquiring = false;
      if (lease) where.project = lease.project.name;
      if (!lease) {
        settleBudget(0);
        lane.ready.unshift(...call.live.map((l) => l.unit));
        return;
      }
      this.notify(); // the lane may take its next lease while this call runs
      this.handle(await executor.execute(call, lease, settleBudget));
    } catch (error) {
      this.halt(error);
    } finally {
      lane.acquiring = false;
      this.inFlight -= 1;
      this.notify();
    }
  }

  private poll(entry: Parked): void {
    const { executor, pool } = this.options;
    entry.polling = true;
    this.pollsInFlight += 1;
    const finish = (): void => {
      entry.polling = false;
      this.pollsInFlight -= 1;
      this.notify();
    };
    const remove = (): void => {
      const index = this.parked.indexOf(entry);
      if (index >= 0) this.parked.splice(index, 1);
    };
    const client = pool.clientFor(entry.operation.project);
    const polled = client
      ? executor.poll(entry.operation, client)
      : Promise.resolve({ kind: 'poll_failed' as const, error: new Error(`project "${entry.operation.project}" that started the operation is gone`) });
    void polled
      .then(async (outcome) => {
        if (outcome.kind === 'running') {
          entry.polls += 1;
          entry.failedPolls = 0;
          entry.nextAt = Date.now() + executor.pollDelayMs(entry.polls);
        } else if (outcome.kind === 'poll_failed') {
          entry.failedPolls += 1;
          entry.polls += 1;
          entry.nextAt = Date.now() + executor.pollDelayMs(entry.polls);
          if (entry.failedPolls > MAX_FAILED_POLLS || !client) {
            remove();
            this.handle(await executor.pollsExhausted(entry.operation, outcome.error));
          }
        } else {
          remove();
          this.handle(outcome.settled);
        }
      })
      .catch((error: unknown) => this.halt(error))
      .finally(finish);
  }
}

function describeLane(lane: { pool: string | undefined; models: string[] }): string {
  return `pool "${lane.pool ?? 'default'}", model ${lane.models.join(' (fallback: ') + (lane.models.length > 1 ? ')' : '')}`;
}
