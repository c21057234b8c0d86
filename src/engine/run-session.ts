import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ResponseCache } from '../cache/response-cache.js';
import { RunCoordination } from '../coordination/run-coordination.js';
import { cachesResponses } from '../job/job.js';
import type { BudgetAlert } from '../coordination/shared-budget.js';
import { CredentialsWatcher } from '../credentials/credentials-watcher.js';
import type { Credentials } from '../credentials/credentials.js';
import { GenbatchError } from '../errors/genbatch-error.js';
import { RunLockLostError } from '../errors/run-errors.js';
import { StateFileLockedError } from '../errors/state-file-locked-error.js';
import { Budget, BudgetPair, type SpendGuard } from '../estimate/budget.js';
import { estimateJob, type JobEstimate } from './estimate-job.js';
import { countingCachedAnswers } from './cached-answers.js';
import { bestTokenCounter } from '../estimate/token-counter.js';
import { removeTempLeftovers } from '../outputs/atomic-write.js';
import { jobWriteFolders } from '../outputs/output-folders.js';
import { StateBackup } from '../store/state-backup.js';
import type { StateStore } from '../store/state-store.js';
import type { LockHolder } from '../store/interfaces/run-locks.js';
import { Engine, newRunId, type RunSummary } from './engine.js';
import type { RunOutcome } from './events.js';
import { checkJobIdentity } from './job-identity.js';
import type { PreparedJob } from './prepare-job.js';
import { checkStaleness } from './staleness.js';
import { fingerprintInput, lastSync, lastValidation, META, stalenessKey, syncKey, syncItems, type SyncRecord } from '../input/index.js';
import { scratchDirFor } from './paths.js';
import { openJobState } from './state-owner.js';
import { lockHolderState } from '../store/process-alive.js';

/** How far before the dead run's last heartbeat its outputs may still have been in the OS cache only. */
const UNFLUSHED_WINDOW_MS = 5 * 60_000;
/** A run beats its heart every 5 s (engine.ts): well after its last beat, it was dead. */
const HEARTBEAT_SLACK_MS = 15_000;

/**
 * Output files are renamed into place without an fsync each, which survives the death of the
 * process but not of the machine: after a crash, files the state calls done may be missing or
 * empty. Those steps (and the later steps of their items) go back to pending. Only steps whose
 * call the ledger records shortly before the dead run's last heartbeat are checked, so a resume of
 * a huge job stays fast.
 */
export function redoMissingOutputs(prepared: PreparedJob, store: StateStore, lastHeartbeatIso: string): number {
  const heartbeat = Date.parse(lastHeartbeatIso);
  const since = new Date(heartbeat - UNFLUSHED_WINDOW_MS).toISOString();
  // The dead run wrote nothing later than its next heartbeat would have been.
  const until = new Date(heartbeat + HEARTBEAT_SLACK_MS).toISOString();
  const names = prepared.job.steps.map((s) => s.name);
  let redone = 0;
  for (const done of store.doneOutputsBetween(since, until)) {
    const intact = done.outputs.every((file) => (statSync(resolve(prepared.job.outputDir, file), { throwIfNoEntry: false })?.size ?? 0) > 0);
    if (intact || !names.includes(done.step)) continue;
    redone += store.resetSteps([done.itemId], names.slice(names.indexOf(done.step)), ['done', 'failed', 'filtered']) > 0 ? 1 : 0;
  }
  return redone;
}

export interface RunSessionOptions {
  /** Credentials to use instead of the file's (e.g. pointed at an emulator). */
  credentials?: Credentials;
  /** Applied to every reloaded credentials file (e.g. to keep pointing at the emulator). */
  transformCredentials?: (credentials: Credentials) => Credentials;
  /** The credentials are emulated: key files and keys are not read. */
  emulated?: boolean;
  /** `run --no-wait`: submit batch jobs and return; the next run collects them. */
  noWait?: boolean;
  /** `--budget`: this run's cap (overrides the job's budget.per_run_usd; budget.max_usd still caps all runs). */
  budgetUsd?: number;
  /** `--strict`: failed items left by earlier runs make this run exit 1 too. */
  strict?: boolean;
  /** `--no-cache`: every answer comes from a call (none read from or kept in the response cache). */
  noCache?: boolean;
  /** Something the person should know that is not an event of a pass (lock taken over, stale items). */
  onNotice?: (message: string) => void;
  /** Each engine a pass creates, before it runs: attach views, logs and metrics; return a detach. */
  onEngine?: (engine: Engine) => () => void;
  onCredentialsInvalid?: (error: unknown) => void;
  /** The credentials file's shared daily budget crossed its `alert_at` (sent once per day, by one run). */
  onBudgetAlert?: (alert: BudgetAlert) => void | Promise<void>;
}

/** Another run holds the job's lock (exit 5), named, and why a silent holder on this host is not taken over. */
function runActiveError(jobName: string, holder: LockHolder & { heartbeatAt: string }): GenbatchError {
  const silentS = Math.round((Date.now() - Date.parse(holder.heartbeatAt)) / 1000);
  // Alive on this host but silent: stopped (SIGSTOP, Ctrl-Z), or this process's clock runs ahead. Never taken over.
  const paused =
    holder.host === hostname() && silentS > 30
      ? ` Its heartbeat looks ${silentS} s old, but the process is alive: it may be stopped (Ctrl-Z or SIGSTOP; \`kill -CONT ${holder.pid}\` resumes it), and a live run's lock is never taken over.`
      : '';
  return new GenbatchError(`Another run of ${jobName} is active: pid ${holder.pid} on ${holder.host}, last heartbeat ${holder.heartbeatAt}.${paused}`, {
    code: 'RUN_ACTIVE',
    exitCode: 5,
    hint: 'Wait for it to finish (genbatch status shows its progress), or stop it; a lock left by a dead process is taken over automatically.',
  });
}

function tookOverNotice(gone: LockHolder): string {
  return gone.host === hostname()
    ? `Took over the lock left by a run that is gone (pid ${gone.pid} on ${gone.host}).`
    : `Took over the lock of a run on ${gone.host} (pid ${gone.pid}) whose heartbeat stopped over a minute ago.`;
}

export interface SyncReport {
  items: number;
  stale: number;
  redone: number;
}

/**
 * Everything one run of a job holds while it works, under one run id: the state file, the job's
 * lock and its heartbeat, the credentials watcher, the item sync and the engine passes (a pilot,
 * then the rest). Cleanups run in last-in-first-out order when it closes, whatever happened.
 */
export class RunSession {
  readonly runId: string;
  private readonly cleanups: (() => void | Promise<void>)[] = [];
  private engine: Engine | undefined;
  private credentials: Credentials;
  private stopReason: RunOutcome | undefined;
  private lastSummary: RunSummary | undefined;
  private backup: StateBackup | undefined;
  private coordination: RunCoordination | undefined;
  /** The shared file could not be opened: this run shares nothing (said once). */
  private unshared = false;
  /** The response cache, opened by the first pass that has a step whose answers are cached. */
  private cache: ResponseCache | undefined;

  private constructor(
    readonly prepared: PreparedJob,
    readonly store: StateStore,
    private readonly options: RunSessionOptions,
    runId: string,
  ) {
    this.runId = runId;
    this.credentials = options.credentials ?? prepared.credentials;
  }

  /** Opens the state and takes the job's lock (exit 5 when another run holds it). */
  static open(prepared: PreparedJob, options: RunSessionOptions = {}): RunSession {
    const { job } = prepared;
    const store = openJobState(job);
    const runId = newRunId();
    const lock = store.acquireLock({ runId, pid: process.pid, host: hostname() }, lockHolderState);
    if (!lock.acquired) {
      store.close();
      throw runActiveError(job.name, lock.holder);
    }
    // Every state write of this run commits only while it holds the lock (a run that lost it writes nothing).
    store.fenceFor(runId);
    const session = new RunSession(prepared, store, options, runId);
    session.defer(() => store.close());
    session.defer(() => void store.releaseLock(runId));
    if (lock.tookOver) options.onNotice?.(tookOverNotice(lock.tookOver));
    session.startRun();
    session.defer(() => {
      // A session that ends without a pass (declined, invalid) still closes its run row.
      if (!session.lastSummary) store.endRun(runId, session.stopReason ?? 'cancelled', 4);
    });
    session.defer(async () => {
      const warning = await session.backup?.finish();
      if (warning) options.onNotice?.(warning);
    });
    session.watchStateFile();
    session.watchCredentials();
    return session;
  }

  /** The run's row; when the last run died without ending (killed, or the machine went down), what it wrote is checked. */
  private startRun(): void {
    const { store, prepared, runId } = this;
    const notice = (message: string): void => this.options.onNotice?.(message);
    const previous = store.lastRun();
    store.startRun({ id: runId, pid: process.pid, host: hostname(), options: {} });
    if (!previous) return;
    const abrupt = previous.endedAt === null || previous.outcome === 'crashed';
    // The last run died without ending (killed, or the machine went down): check what it wrote.
    if (abrupt) {
      const redone = redoMissingOutputs(prepared, store, previous.heartbeatAt ?? previous.startedAt);
      if (redone > 0) notice(`Redoing ${redone} step(s) whose output file is missing or empty after the last run ended abruptly.`);
    }
    // A run that exited at once (a second Ctrl-C records `cancelled` before it exits) may have left a temp file too.
    if (!abrupt && previous.outcome !== 'cancelled') return;
    const removed = removeTempLeftovers(jobWriteFolders(prepared.job, scratchDirFor(prepared.job)));
    if (removed > 0) notice(`Removed ${removed} temp file(s) that the last run, ended abruptly, left among the outputs.`);
  }

  /** Lock waits, the WAL's growth and the heartbeat: what keeps the state file and the job's lock in hand while the run lasts. */
  private watchStateFile(): void {
    const { store, runId } = this;
    const notice = (message: string): void => this.options.onNotice?.(message);
    // Every state write waits for a lock another process holds on the file, as long as a stall may last.
    store.waitForLocks(this.prepared.job.limits.maxStallMs, notice);
    // A WAL that a reader pins grows with every commit: bounded, and its reader named (a huge one left by an earlier run too).
    store.watchWal(notice);
    // With the other writes (see StateStore.beat): a locked file delays it, and a lock that stayed stops the pass.
    const heartbeat = setInterval(() => {
      store.beat(runId).catch((error: unknown) => {
        // A lock that stayed, or the job's lock lost to another run (fenced writes): the pass stops.
        if (error instanceof StateFileLockedError || error instanceof RunLockLostError) this.engine?.stopWith(error);
        else throw error;
      });
    }, 5000);
    heartbeat.unref();
    this.defer(() => clearInterval(heartbeat));
  }

  /** The credentials file is watched (and reloaded on SIGHUP): projects can be added, changed or removed mid-run. */
  private watchCredentials(): void {
    const { options } = this;
    const watcher = new CredentialsWatcher(this.prepared.job.credentialsFile, {
      emulated: options.emulated ?? false,
      ...(options.transformCredentials ? { transform: options.transformCredentials } : {}),
      onReload: (next) => {
        this.credentials = next;
        this.engine?.updateCredentials(next);
      },
      onInvalid: (error) => {
        options.onCredentialsInvalid?.(error);
        this.engine?.emit('credentials:invalid', { message: error instanceof Error ? error.message : String(error) });
      },
    }).start();
    this.defer(() => watcher.stop());
  }

  /**
   * The process exits at once (a second Ctrl-C): the run row still says how it ended. Its outputs
   * are safe (a process exit keeps what was renamed into place); a temp file it was writing is
   * removed by the next run, which also finds its running steps (see Engine.run).
   */
  recordExit(outcome: RunOutcome, exitCode: number): void {
    this.store.endRun(this.runId, outcome, exitCode);
  }

  /** Registers a cleanup; they run in reverse order of registration. */
  defer(cleanup: () => void | Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  /**
   * Streams the input into the state file and deals with stale items: done items whose input row
   * or templates changed are redone with `redoStale`, else only counted.
   *
   * An input with the content of the last complete sync (same SHA-256, same reading options and
   * steps) is not read again; only items flagged as possibly stale are judged, unless the steps or
   * styles changed since the last check (then every done item is, a page at a time).
   */
  async sync(options: { redoStale?: boolean; acceptChanges?: boolean } = {}): Promise<SyncReport> {
    const { job } = this.prepared;
    const store = this.store;
    // Before the input is synced under new names and before any call: an edit that would redo finished work is refused.
    checkJobIdentity(job, store, { accept: options.acceptChanges ?? false, notice: (message) => this.options.onNotice?.(message) });
    const fingerprint = this.prepared.input?.fingerprint ?? (await fingerprintInput(job.input.file));
    const key = syncKey(job, fingerprint);
    const previous = lastSync(store);
    const unchanged = previous?.key === key;
    let items: number;
    // A first sync (empty state) brings items without any done step: none can be stale.
    let first = false;
    if (unchanged) items = previous.rows;
    else {
      first = store.itemCount() === 0;
      // Until this sync completes, the state matches no input: a run killed during it syncs again.
      store.deleteMeta(META.sync);
      items = await syncItems(this.prepared.job, store, this.runId);
    }
    const basis = stalenessKey(job);
    const everything = store.getMeta(META.staleBasis) !== basis;
    const { stale, redone } = first ? { stale: 0, redone: 0 } : checkStaleness(job, store, { everything, redo: options.redoStale ?? false });
    if (everything) store.setMeta(META.staleBasis, basis);
    const validated = this.prepared.input;
    const recordValidation = validated !== undefined && lastValidation(store)?.key !== validated.validationKey;
    if (!unchanged || recordValidation) {
      // Recorded only if the file did not change while it was read; else the next run reads it again.
      const now = await fingerprintInput(job.input.file);
      if (now.sha256 === fingerprint.sha256) {
        if (!unchanged) {
          const record: SyncRecord = {
            key,
            rows: items,
            size: fingerprint.size,
            mtimeMs: fingerprint.mtimeMs,
            sha256: fingerprint.sha256,
            at: new Date().toISOString(),
          };
          store.setMeta(META.sync, JSON.stringify(record));
        }
        if (validated) store.setMeta(META.validated, JSON.stringify({ key: validated.validationKey, rows: this.prepared.rows }));
      }
    }
    return { items, stale, redone };
  }

  pendingItems(): number {
    return this.store.pendingItemCount();
  }

  /**
   * Settled spend of this run so far (what "estimate vs actual" compares, before and after a pass);
   * calls whose outcome is unknown are reported apart. Read by run id: no pass over the whole ledger.
   */
  spentUsd(): number {
    return this.store.ledger.totals(this.runId).costUsd;
  }

  /**
   * The spending guard for a pass: the job's caps (or --budget) against what the ledger says was
   * spent, and beside them the credentials file's shared daily budget when it has one.
   */
  private budget(): SpendGuard {
    const { job } = this.prepared;
    const today = new Date().toISOString().slice(0, 10);
    const maxUsd = job.budget.maxUsd;
    const perRunUsd = this.options.budgetUsd ?? job.budget.perRunUsd;
    // Each sum is a pass over the ledger's index (a million rows on a big job): only for a cap that is set.
    const own = new Budget(
      {
        ...(maxUsd === undefined ? {} : { maxUsd }),
        ...(perRunUsd === undefined ? {} : { perRunUsd }),
        ...(job.budget.dailyUsd === undefined ? {} : { dailyUsd: job.budget.dailyUsd }),
      },
      maxUsd === undefined ? 0 : this.store.spentUsd(),
      job.budget.dailyUsd === undefined ? 0 : this.store.spentUsd(`${today}T00:00:00.000Z`),
      this.spentUsd(),
    );
    const second = this.coordination?.spend;
    return second ? new BudgetPair(own, second) : own;
  }

  /**
   * Joins the runs sharing these projects (this host's shared file, or Redis with `coordination:`),
   * once, before the first pass. A rehearsal with --emulator shares nothing: its emulator is its own.
   */
  private async coordinate(): Promise<RunCoordination | undefined> {
    if (this.options.emulated || this.coordination || this.unshared) return this.coordination;
    const { job } = this.prepared;
    try {
      this.coordination = await RunCoordination.open({
        credentials: this.credentials,
        job: { name: job.name, file: job.file },
        runId: this.runId,
        ...(this.options.onBudgetAlert ? { onBudgetAlert: this.options.onBudgetAlert } : {}),
      });
    } catch (error) {
      // No shared file (a read-only home, say): the run goes on alone, and says so. A shared budget cannot be kept alone: that stops it.
      if (!(error instanceof GenbatchError) || error.code !== 'SHARED_FILE' || this.credentials.budget) throw error;
      this.unshared = true;
      this.options.onNotice?.(`warning: ${error.message} Limits and cooldowns are not shared with other runs on this host. ${error.hint ?? ''}`.trim());
      return undefined;
    }
    const coordination = this.coordination;
    this.defer(() => coordination.close());
    return coordination;
  }

  /** The response cache of this user (GENBATCH_CACHE_DIR), unless the run has it off or no step caches. */
  private responseCache(): ResponseCache | undefined {
    if (this.cache || this.options.noCache || !this.prepared.job.steps.some(cachesResponses)) return this.cache;
    const cache = ResponseCache.open({
      onUnavailable: (error) => this.options.onNotice?.(`The response cache is off for this run: ${error.message}${error.hint ? ` ${error.hint}` : ''}`),
      onReadOnly: (message) => this.options.onNotice?.(`warning: ${message}`),
    });
    this.cache = cache;
    this.defer(() => cache.close());
    return cache;
  }

  /** One pass of the engine over (up to `limit`) items with work left, under this session's run id. */
  async pass(limit?: number): Promise<RunSummary> {
    const { job, catalog } = this.prepared;
    const cache = this.responseCache();
    const coordination = await this.coordinate();
    const engine = new Engine({
      job,
      credentials: this.credentials,
      store: this.store,
      catalog,
      budget: this.budget(),
      ...(coordination ? { coordination } : {}),
      ...(cache ? { cache } : {}),
      runId: this.runId,
      runStarted: true,
      ...(this.options.noWait ? { noWait: true } : {}),
      ...(this.options.strict ? { strict: true } : {}),
      ...(limit === undefined ? {} : { limit }),
    });
    this.engine = engine;
    // The rolling backup of the state, in the background once the first call is on its way (see StateBackup).
    engine.once('step:start', () => (this.backup ??= new StateBackup(this.store)).start());
    const detach = this.options.onEngine?.(engine);
    try {
      if (this.stopReason) engine.requestStop(this.stopReason);
      this.lastSummary = await engine.run();
      return this.lastSummary;
    } finally {
      this.engine = undefined;
      detach?.();
    }
  }

  /** A pilot: `items` items done for real, to calibrate the estimate. */
  pilot(items: number): Promise<RunSummary> {
    return this.pass(items);
  }

  /** What is left (with `limit`, what a pass over the next `limit` items will do) is estimated. */
  async estimate(pilotItems?: number, limit?: number): Promise<JobEstimate> {
    const counter = await bestTokenCounter();
    const estimate = await estimateJob(this.prepared, {
      store: this.store,
      counter,
      catalog: this.prepared.catalog,
      credentials: this.credentials,
      ...(pilotItems ? { pilotItems } : {}),
      ...(limit === undefined ? {} : { limit }),
    });
    // Answers the response cache holds cost $0 (none with --no-cache): src/engine/cached-answers.ts.
    return countingCachedAnswers(estimate, this.prepared, {
      cache: this.responseCache(),
      store: this.store,
      catalog: this.prepared.catalog,
      ...(limit === undefined ? {} : { limit }),
    });
  }

  /** Stops the pass in progress (calls in flight finish and are checkpointed) and any later one. */
  requestStop(reason: RunOutcome = 'cancelled'): void {
    this.stopReason ??= reason;
    this.engine?.requestStop(reason);
  }

  get stopping(): boolean {
    return this.stopReason !== undefined;
  }

  /** Runs the cleanups, last registered first; one failing does not skip the others. */
  async close(): Promise<void> {
    let first: unknown;
    while (this.cleanups.length > 0) {
      const cleanup = this.cleanups.pop() as () => void | Promise<void>;
      try {
        await cleanup();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined) throw first;
  }
}
