import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { GoogleGenAI } from '@google/genai';
import type { RunCoordination, SharedFigures } from '../coordination/run-coordination.js';
import { createClient } from '../credentials/client-factory.js';
import type { Credentials } from '../credentials/credentials.js';
import { ProjectPool } from '../coordination/project-pool.js';
import { quotaDayStart } from '../resilience/quota-day.js';
import type { GenbatchError } from '../errors/genbatch-error.js';
import { NoUsableProjectError, RunLockLostError, StalledOnOutageError, StalledOnQuotaError } from '../errors/run-errors.js';
import { StateFileLockedError } from '../errors/state-file-locked-error.js';
import type { SpendGuard } from '../estimate/budget.js';
import { BudgetHolds } from './budget-hold.js';
import { JudgeCalls } from './judge-calls.js';
import type { PriceCatalog } from '../estimate/price-catalog.js';
import type { ResponseCache } from '../cache/response-cache.js';
import type { Job } from '../job/job.js';
import { AtomicWriter } from '../outputs/atomic-write.js';
import { writeResults } from '../outputs/results-writer.js';
import { writeEmbeddingFiles } from '../outputs/embedding-files.js';
import type { RunState } from '../store/interfaces/run-state.js';
import { HeldReplies } from '../outputs/held-replies.js';
import { OUTCOME_EXIT_CODES, type EngineEvents, type RunOutcome } from './events.js';
import { BatchExecutor } from './executors/batch-executor.js';
import { CloudObjects } from './executors/cloud-objects.js';
import { ContextCacheKeeper } from './context-cache-keeper.js';
import { OnlineExecutor } from './executors/online-executor.js';
import { heldRepliesDirFor, scratchDirFor } from './paths.js';
import { runOutcome } from './run-outcome.js';
import { Scheduler } from './scheduler.js';
import { readCounts } from './status.js';

export interface EngineOptions {
  job: Job;
  credentials: Credentials;
  store: RunState;
  catalog: PriceCatalog;
  /** Only the first N items with work left. */
  limit?: number;
  createClient?: (project: Credentials['projects'][number]) => GoogleGenAI;
  /** The spending guard; without one, nothing is capped. */
  budget?: SpendGuard;
  /** What this run shares with the other runs using its projects (limits, cooldowns, budgets). */
  coordination?: RunCoordination;
  /** The response cache: identical requests answered once, at $0. Absent: every answer is a call. */
  cache?: ResponseCache;
  runId?: string;
  /** Submit batch jobs and return without waiting for them (`run --no-wait`); the next run collects them. */
  noWait?: boolean;
  /** `--strict`: failed items left by earlier runs make this run exit 1 too (see runOutcome). */
  strict?: boolean;
  /** The run row already exists (a run session makes several passes under one run id). */
  runStarted?: boolean;
  random?: () => number;
}

export interface RunSummary {
  runId: string;
  outcome: RunOutcome;
  exitCode: number;
  durationMs: number;
  message?: string;
  hint?: string;
  /** Steps completed in this pass, per step name. */
  completed?: Record<string, number>;
}

function messageOf(error: GenbatchError): { message: string; hint?: string } {
  return { message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
}

export function newRunId(): string {
  return `${new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14)}-${randomUUID().slice(0, 8)}`;
}

/**
 * One pass of a job over the items with work left. It coordinates: the pool says which projects
 * can serve which model, the scheduler keeps the lanes moving, the executor makes and settles the
 * calls, and everything is reported as events. It writes nothing but through the store and the
 * output writer.
 */
export class Engine extends EventEmitter<EngineEvents> {
  readonly runId: string;
  private readonly pool: ProjectPool;
  private readonly writer: AtomicWriter;
  private readonly stopController = new AbortController();
  private stopReason: RunOutcome | undefined;
  private fatal: GenbatchError | undefined;
  /** The first batch step stopped in this run (its other steps went on): the run's outcome says so. */
  private batchStopped: GenbatchError | undefined;
  /** The credentials in force (reloaded files included): batch staging reads its projects. */
  private credentials: Credentials;

  constructor(private readonly options: EngineOptions) {
    super();
    this.runId = options.runId ?? newRunId();
    this.credentials = options.credentials;
    this.writer = new AtomicWriter(scratchDirFor(options.job));
    this.pool = new ProjectPool(options.credentials, {
      createClient: options.createClient ?? createClient,
      onStateChange: (snapshot) => {
        if (snapshot.state === 'active') this.emit('project:active', { project: snapshot.name });
        // Saved with the next group commit (this turn of the event loop), so an immediate resume knows of cooldowns and
        // daily exhaustion (as hints it probes once); a file another process holds delays it instead of throwing from here.
        if (options.store.isOpen) options.store.commit(() => options.store.saveProjectStates(this.pool.persistable())).catch(() => undefined);
      },
      requestsToday: (project, model) => options.store.requestsSince(project, model, new Date(quotaDayStart(Date.now())).toISOString()),
      ...(options.coordination ? { coordinator: options.coordination.coordinator } : {}),
      // The Gemini API serves fewer models than Vertex AI: a key is not asked for one it lacks.
      serves: (project, model) => options.catalog.serves(model, project.api ?? 'vertex'),
    });
    this.pool.restore(options.store.loadProjectStates());
  }

  /** A reloaded credentials file takes effect at once, without losing calls in flight. */
  updateCredentials(credentials: Credentials): ReturnType<ProjectPool['update']> {
    this.credentials = credentials;
    const change = this.pool.update(credentials);
    this.emit('credentials:reloaded', change);
    return change;
  }

  projects(): ReturnType<ProjectPool['snapshot']> {
    return this.pool.snapshot();
  }

  /** The shared-capacity windows per model and location (adaptive concurrency), for the live view. */
  capacityWindows(): ReturnType<ProjectPool['capacityWindows']> {
    return this.pool.capacityWindows();
  }

  /** What is shared with other runs (other runs on the same projects, cooldowns they passed on, the shared budget). */
  shared(): SharedFigures | undefined {
    return this.options.coordination?.figures(this.options.credentials);
  }

  /** First Ctrl-C: take no new work, let the calls in flight finish and be checkpointed. */
  requestStop(reason: RunOutcome = 'cancelled'): void {
    if (this.stopController.signal.aborted) return;
    this.stopReason ??= reason;
    this.emit('run:stopping', { reason });
    this.stopController.abort();
  }

  /** Stops the run with an error that says why (exit 75: a state file another process kept locked, or the job's lock lost to another run). */
  stopWith(error: StateFileLockedError | RunLockLostError): void {
    this.fatal ??= error;
    this.requestStop('stalled');
  }

  /** Failures of this pass (see runOutcome: an earlier run's failure does not fail this one). */
  private failedNow = 0;
  private readonly countFailure = (): void => void (this.failedNow += 1);

  async run(): Promise<RunSummary> {
    const { job, store } = this.options;
    // A run's duration is measured on the monotonic clock (a wall-clock step must not make a 10-minute run last 2 h).
    const started = performance.now();
    // Failures of this pass (see runOutcome: an earlier run's failure does not fail this one).
    this.failedNow = 0;
    this.on('step:failed', this.countFailure);
    if (!this.options.runStarted) store.startRun({ id: this.runId, pid: process.pid, host: hostname(), options: { limit: this.options.limit ?? null } });
    const recovered = store.recoverAbandoned(this.runId);
    await this.writer.clearScratch();
    const total = store.itemCount();
    const pending = Math.min(store.pendingItemCount(), this.options.limit ?? Infinity);
    const pendingSteps = store.steps.openUnfinishedByStep(this.options.limit);
    this.emit('run:start', { runId: this.runId, total, pending, pendingSteps, recovered, steps: job.steps.map((s) => s.name) });

    let completed: Record<string, number> = {};
    if (pending === 0) {
      const counts = readCounts(store);
      this.emit('run:nothing', { runId: this.runId, total, done: counts.items.done, failed: counts.items.failed, filtered: counts.items.filtered });
    } else {
      completed = await this.pass();
    }
    return this.finish(started, completed);
  }

  /** The pass itself: the executors, the scheduler over them, and what its outcome means for the run. */
  private async pass(): Promise<Record<string, number>> {
    const heartbeat = this.heartbeat();
    try {
      const scheduler = await this.scheduler();
      let outcome: Awaited<ReturnType<Scheduler['run']>>;
      try {
        outcome = await scheduler.run();
      } catch (error) {
        // Another process held the state file past limits.max_stall: a clean stop, resumable (exit 75).
        if (!(error instanceof StateFileLockedError)) throw error;
        this.stopWith(error);
        outcome = { kind: 'stopped' };
      }
      if (outcome.kind === 'stalled') {
        this.fatal ??=
          outcome.outageSince === undefined
            ? new StalledOnQuotaError(outcome.lanes, outcome.stalledForMs, outcome.completed)
            : new StalledOnOutageError(outcome.lanes, outcome.stalledForMs, outcome.completed);
        this.requestStop('stalled');
      } else if (outcome.kind === 'unusable') {
        this.fatal ??= new NoUsableProjectError(outcome.reasons.join('; '));
        this.requestStop('no_projects');
      }
      return scheduler.completedSteps();
    } finally {
      clearInterval(heartbeat);
      // The step's caches go when the pass ends (finished, stopped, Ctrl-C): none is left to pay for.
      await this.keeper?.close();
      this.pool.detach();
    }
  }

  #keeper: ContextCacheKeeper | undefined;
  private get keeper(): ContextCacheKeeper | undefined {
    return this.#keeper;
  }

  /** The run's explicit context caches (issue 29), over the projects of each step's pool. */
  private contextCacheKeeper(): ContextCacheKeeper {
    const { job, store, catalog } = this.options;
    this.#keeper = new ContextCacheKeeper({
      runId: this.runId,
      job,
      store,
      catalog,
      projects: (step) =>
        this.credentials.projects.filter(
          (p) => p.enabled && (p.api ?? 'vertex') === 'vertex' && ((step.pool ?? job.pool) === undefined || p.pool === (step.pool ?? job.pool)),
        ),
      clientFor: (project) => this.pool.clientFor(project),
    });
    return this.#keeper;
  }

  /** The run's heartbeat in the state file, every 5 s; a lock lost (or held past its time) stops the pass. */
  private heartbeat(): NodeJS.Timeout {
    const heartbeat = setInterval(() => {
      this.options.store.beat(this.runId).catch((error: unknown) => {
        // A lock that stayed, or the job's lock lost to another run (fenced writes): the pass stops.
        if (error instanceof StateFileLockedError || error instanceof RunLockLostError) this.stopWith(error);
        else throw error;
      });
    }, 5000);
    heartbeat.unref();
    return heartbeat;
  }

  /** The executors of this pass (online; batch when a step runs in batch or an earlier run left batch jobs) and the scheduler over them. */
  private async scheduler(): Promise<Scheduler> {
    const { job, store } = this.options;
    const emit = <K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]): void => {
      (this.emit as (e: K, ...a: EngineEvents[K]) => boolean)(event, ...args);
    };
    const context = {
      runId: this.runId,
      job,
      store,
      catalog: this.options.catalog,
      pool: this.pool,
      writer: this.writer,
      held: new HeldReplies(heldRepliesDirFor(job)),
      emit,
      ...(this.options.random ? { random: this.options.random } : {}),
      ...(this.options.cache ? { cache: this.options.cache } : {}),
      objects: new CloudObjects(() => this.credentials),
      contextCaches: this.contextCacheKeeper(),
    };
    const onBudgetRefused = (worstCaseUsd: number): void => {
      if (this.options.budget) this.fatal ??= this.options.budget.stopError(worstCaseUsd);
      this.requestStop('budget');
    };
    // Judges of `judge:` checks hold the same budget (their own holds over the run's spend guard).
    const judged = job.steps.some((s) => s.checks?.some((c) => c.check === 'judge'));
    const judges = judged
      ? new JudgeCalls({ ...context, holds: new BudgetHolds(this.options.budget), signal: this.stopController.signal, onBudgetRefused })
      : undefined;
    const gated = { ...context, onBudgetRefused, ...(judges ? { judge: judges.judge } : {}) };
    const executor = new OnlineExecutor(gated);
    const batch =
      job.steps.some((s) => (s.mode ?? 'online') !== 'online') || store.batches.unsettled().length > 0
        ? new BatchExecutor({
            ...gated,
            online: executor,
            budget: this.options.budget,
            credentials: () => this.credentials,
            signal: this.stopController.signal,
            noWait: this.options.noWait ?? false,
            onBudgetRefused,
            onStepStopped: (error) => {
              this.batchStopped ??= error;
            },
          })
        : undefined;
    await batch?.resume();
    return new Scheduler({
      job,
      store,
      pool: this.pool,
      executor,
      batch,
      adoptedUnits: batch?.adoptedUnits ?? 0,
      budget: this.options.budget,
      limit: this.options.limit,
      signal: this.stopController.signal,
      emit,
      onBudgetRefused,
      onStop: (error) => {
        this.fatal ??= error;
        this.requestStop('disk_full');
      },
    });
  }

  /** The end of a pass: the embedding and results files written, the run's outcome recorded and announced. */
  private async finish(started: number, completed: Record<string, number>): Promise<RunSummary> {
    const { job, store } = this.options;
    await writeEmbeddingFiles(job, store, scratchDirFor(job));
    const resultsFile = await writeResults(job, store, scratchDirFor(job), job.resultsFields ? { fields: job.resultsFields } : {});
    const counts = readCounts(store);
    this.off('step:failed', this.countFailure);
    const outcome: RunOutcome = runOutcome({
      stopReason: this.stopReason,
      batchStopped: this.batchStopped !== undefined,
      failedNow: this.failedNow,
      failedTotal: counts.items.failed,
      strict: this.options.strict ?? false,
    });
    const exitCode = OUTCOME_EXIT_CODES[outcome];
    store.endRun(this.runId, outcome, exitCode);
    this.emit('run:end', {
      runId: this.runId,
      outcome,
      exitCode,
      counts: counts.steps,
      costUsd: counts.costUsd,
      requests: counts.requests,
      unsettledCalls: counts.unsettledCalls,
      unsettledMaxUsd: counts.unsettledMaxUsd,
      durationMs: Math.round(performance.now() - started),
      ...(resultsFile ? { resultsFile } : {}),
    });
    return {
      runId: this.runId,
      outcome,
      exitCode,
      durationMs: Math.round(performance.now() - started),
      completed,
      ...((this.fatal ?? this.batchStopped) ? messageOf((this.fatal ?? this.batchStopped) as GenbatchError) : {}),
    };
  }
}
