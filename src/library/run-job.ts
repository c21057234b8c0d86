import { EventEmitter } from 'node:events';
import type { RunSummary } from '../engine/engine.js';
import type { EngineEvents } from '../engine/events.js';
import { prepareJob, type PreparedJob } from '../engine/prepare-job.js';
import { refuseInstalledExample } from '../job/examples.js';
import { RunSession } from '../engine/run-session.js';
import { readCounts } from '../engine/status.js';
import type { StepState } from '../store/step-state.js';

export interface RunJobOptions {
  /** Run against an in-process Vertex AI emulator (as `genbatch run --emulator`): nothing is billed, no key is read. */
  emulator?: boolean;
  /** Aborting stops the run like Ctrl-C: no new calls, calls in flight finish and are checkpointed (outcome `cancelled`). */
  signal?: AbortSignal;
  /** This run's spending cap (as `--budget`): overrides the job's `budget.per_run_usd`; `budget.max_usd` still caps all runs. */
  budgetUsd?: number;
  /** Only the next N items with work left (as `--limit`). */
  limit?: number;
  /** `false`: every answer comes from a call, none from the response cache (as `--no-cache`). */
  cache?: boolean;
  /** Redo done items whose input row or templates changed since they were done (as `--redo-stale`). */
  redoStale?: boolean;
  /** Failed items left by earlier runs make this run's outcome `failed_items` too (as `--strict`). */
  strict?: boolean;
  /** Things worth telling a person that are not engine events (a lock taken over, stale items). */
  onNotice?: (message: string) => void;
}

/** What `runJob` resolves to: the engine's summary of the pass, with the state's counts and spend. */
export interface JobRunSummary extends RunSummary {
  job: string;
  /** Items per state after the run (as `genbatch status` counts them). */
  items: Record<StepState, number>;
  /** Settled spend of this run, in USD. */
  spentUsd: number;
  /** Items in the job. */
  total: number;
}

/** The engine's events, and `notice` for the session's messages. */
export interface JobRunEvents extends EngineEvents {
  notice: [{ message: string }];
}

// Every engine event, checked by the compiler: a new event in EngineEvents that is not listed here does not compile.
const ENGINE_EVENTS: Record<keyof EngineEvents, true> = {
  'run:start': true,
  'run:nothing': true,
  'step:start': true,
  'step:done': true,
  'step:failed': true,
  'step:filtered': true,
  'step:checks': true,
  'call:end': true,
  'step:retry': true,
  'project:cooldown': true,
  'project:disabled': true,
  'model:unavailable': true,
  'model:fallback': true,
  'project:active': true,
  'credentials:reloaded': true,
  'credentials:invalid': true,
  'operation:pending': true,
  'run:waiting': true,
  'run:stopping': true,
  'operations:left': true,
  'batch:submitted': true,
  'batch:state': true,
  'batch:settled': true,
  'batch:stopped': true,
  'batches:left': true,
  'run:end': true,
};

/**
 * One run of a job, started by `runJob`. It is an EventEmitter of the engine's typed events and a
 * promise of the summary: `await runJob(...)` gives the summary, `runJob(...).on('step:done', ...)`
 * follows progress. A failure to start (invalid job file or input, another run active) rejects it
 * with the same typed error the CLI reports (a GenbatchError or ConfigError with code and hint).
 */
export class JobRun extends EventEmitter<JobRunEvents> implements PromiseLike<JobRunSummary> {
  readonly summary: Promise<JobRunSummary>;

  constructor(job: string | PreparedJob, options: RunJobOptions) {
    super();
    // Started on the next tick, so listeners attached right after runJob() see every event.
    this.summary = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.run(job, options));
    // An 'error' listener is not required: failures reach the caller through the promise.
    this.summary.catch(() => undefined);
  }

  then<A = JobRunSummary, B = never>(
    onFulfilled?: ((value: JobRunSummary) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.summary.then(onFulfilled, onRejected);
  }

  private async run(job: string | PreparedJob, options: RunJobOptions): Promise<JobRunSummary> {
    const emulated = options.emulator ?? false;
    // Never a run inside the installed package (its state and outputs would land there): see src/job/examples.ts.
    refuseInstalledExample(typeof job === 'string' ? job : job.job.file);
    const prepared = typeof job === 'string' ? await prepareJob(job, { emulated, reuseValidation: true }) : job;
    const { startEmulatorForCredentials, keepPromptCounts } = emulated
      ? await import('./emulated-credentials.js')
      : { startEmulatorForCredentials: undefined, keepPromptCounts: undefined };
    const emulator = startEmulatorForCredentials
      ? await startEmulatorForCredentials(
          prepared.credentials,
          prepared.job.steps.map((s) => s.model),
        )
      : undefined;
    const notice = (message: string): void => {
      options.onNotice?.(message);
      this.emit('notice', { message });
    };
    let session: RunSession;
    try {
      session = RunSession.open(prepared, {
        emulated,
        ...(emulator ? { credentials: emulator.credentials, transformCredentials: emulator.redirect } : {}),
        ...(options.budgetUsd === undefined ? {} : { budgetUsd: options.budgetUsd }),
        ...(options.cache === false ? { noCache: true } : {}),
        ...(options.strict ? { strict: true } : {}),
        onNotice: notice,
        onEngine: (engine) => this.forward(engine),
      });
    } catch (error) {
      await emulator?.close();
      throw error;
    }
    if (emulator) session.defer(() => emulator.close());
    if (emulator && keepPromptCounts) session.defer(keepPromptCounts(emulator, session.store));
    const onAbort = (): void => session.requestStop('cancelled');
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort);
    session.defer(() => options.signal?.removeEventListener('abort', onAbort));
    try {
      const synced = await session.sync({ redoStale: options.redoStale ?? false });
      if (synced.redone > 0) notice(`Redoing ${synced.redone} stale item(s): their input row or templates changed since they were done.`);
      const spentBefore = session.spentUsd();
      const summary = await session.pass(options.limit);
      const counts = readCounts(session.store);
      return {
        ...summary,
        job: prepared.job.name,
        items: counts.items,
        spentUsd: Math.round((session.spentUsd() - spentBefore) * 1e6) / 1e6,
        total: session.store.itemCount(),
      };
    } finally {
      await session.close();
    }
  }

  /** Re-emits every event of an engine pass on this run; returns the detach. */
  private forward(engine: EventEmitter<EngineEvents>): () => void {
    const detach: (() => void)[] = [];
    for (const name of Object.keys(ENGINE_EVENTS) as (keyof EngineEvents)[]) {
      const listener = (...args: unknown[]): void => {
        (this.emit as (event: string, ...rest: unknown[]) => boolean)(name, ...args);
      };
      (engine.on as (event: string, l: (...a: unknown[]) => void) => unknown)(name, listener);
      detach.push(() => (engine.off as (event: string, l: (...a: unknown[]) => void) => unknown)(name, listener));
    }
    return () => detach.forEach((d) => d());
  }
}

/**
 * Runs a job (a job file path, or a job prepared by `loadJob`) to the end, or until the signal
 * aborts it, and resolves to its summary. No confirmation is asked: cap the spend with the job's
 * `budget:` or `budgetUsd`, and see `estimateJob` first. Resumes where the last run stopped.
 */
export function runJob(job: string | PreparedJob, options: RunJobOptions = {}): JobRun {
  return new JobRun(job, options);
}
