import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { renderError } from '../render-error.js';
import { hostname } from 'node:os';
import { CredentialsWatcher } from '../../credentials/credentials-watcher.js';
import type { Credentials } from '../../credentials/credentials.js';
import { Engine, type RunSummary } from '../../engine/engine.js';
import { startEmulatorForCredentials, type EmulatedCredentials } from '../../engine/emulated-credentials.js';
import { prepareJob, syncItems, type PreparedJob } from '../../engine/prepare-job.js';
import { findStaleItems } from '../../engine/staleness.js';
import { GenbatchError } from '../../errors/genbatch-error.js';
import { Budget } from '../../estimate/budget.js';
import { estimateJob, type JobEstimate } from '../../estimate/estimate-job.js';
import { bestTokenCounter } from '../../estimate/token-counter.js';
import { displayPath } from '../../job/load-job.js';
import { StateStore } from '../../store/state-store.js';
import { confirm } from '../confirm.js';
import { line, type CliIO } from '../io.js';
import { renderEstimate } from '../render-estimate.js';
import { attachRunReporter } from '../run-reporter.js';
import { attachLiveView } from '../live-view.js';
import { isGenbatchError } from '../../errors/genbatch-error.js';
import { createRunMetrics, serveMetrics, writeMetricsFilePeriodically, type RunMetrics } from '../../observe/metrics.js';
import { buildErrorSummary, buildRunSummary, checkNotifyTemplate, checkNotifyUrl, notifySummary } from '../../observe/notify.js';
import { secretsOf } from '../../observe/redact.js';
import { attachRunLog } from '../../observe/run-log.js';

export interface RunFlags {
  emulator?: boolean;
  yes?: boolean;
  limit?: number;
  json?: boolean;
  budget?: number;
  pilot?: number;
  /** `resume`: refuse to start a fresh run. */
  resumeOnly?: boolean;
  /** Redo done items whose input row or templates changed since they were done. */
  redoStale?: boolean;
  /** Plain progress lines even on a terminal. */
  plain?: boolean;
  log?: string;
  metricsPort?: number;
  metricsFile?: string;
  notify?: string;
  notifyTemplate?: string;
}

/** Whether a process is alive: only knowable on this host; elsewhere the heartbeat decides. */
function isAlive(pid: number, host: string): boolean {
  if (host !== hostname()) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Everything a run of a job holds while it works: state, lock, emulator, credentials watcher. */
export class RunSession {
  private engine: Engine | undefined;
  private interrupts = 0;
  private readonly lockTimer: NodeJS.Timeout;
  private readonly watcher: CredentialsWatcher;
  private credentials: Credentials;
  readonly lockId: string;
  readonly secrets: string[];
  readonly metrics: RunMetrics;

  private constructor(
    readonly prepared: PreparedJob,
    readonly store: StateStore,
    readonly emulator: EmulatedCredentials | undefined,
    private readonly io: CliIO,
    emulated: boolean,
    lockId: string,
  ) {
    this.lockId = lockId;
    this.credentials = emulator ? emulator.credentials : prepared.credentials;
    this.secrets = secretsOf(prepared.credentials);
    this.metrics = createRunMetrics(undefined, store, { job: prepared.job.name });
    this.lockTimer = setInterval(() => store.touchLock(lockId), 5000);
    this.lockTimer.unref();
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    // The credentials file is watched (and reloaded on SIGHUP): projects can be added, changed or removed mid-run.
    this.watcher = new CredentialsWatcher(prepared.job.credentialsFile, {
      emulated,
      ...(emulator ? { transform: emulator.redirect } : {}),
      onReload: (next) => {
        this.credentials = next;
        this.engine?.updateCredentials(next);
      },
      onInvalid: (error) => this.engine?.emit('credentials:invalid', { message: error instanceof Error ? error.message : String(error) }),
    }).start();
  }

  /** Opens the state and takes the job's lock (exit 5 when another run holds it). */
  static async open(prepared: PreparedJob, flags: RunFlags, io: CliIO): Promise<RunSession> {
    const { job } = prepared;
    const store = StateStore.open(job.stateFile);
    const lockId = `${process.pid}-${Date.now()}`;
    const lock = store.acquireLock({ runId: lockId, pid: process.pid, host: hostname() }, isAlive);
    if (!lock.acquired) {
      store.close();
      throw new GenbatchError(
        `Another run of ${job.name} is active: pid ${lock.holder.pid} on ${lock.holder.host}, last heartbeat ${lock.holder.heartbeatAt}.`,
        { code: 'RUN_ACTIVE', exitCode: 5, hint: 'Wait for it to finish (genbatch status shows its progress), or stop it; a lock left by a dead process is taken over automatically.' },
      );
    }
    if (lock.tookOver) line(io.stderr, `Took over the lock left by a run that is gone (pid ${lock.tookOver.pid} on ${lock.tookOver.host}).`);
    const emulator = flags.emulator ? await startEmulatorForCredentials(prepared.credentials, job.steps.map((s) => s.model)) : undefined;
    if (emulator) line(io.stderr, `Using the in-process Vertex AI emulator at ${emulator.url} (no Google account, nothing billed).`);
    return new RunSession(prepared, store, emulator, io, flags.emulator ?? false, lockId);
  }

  private readonly onSignal = (): void => {
    this.interrupts += 1;
    if (this.interrupts === 1 && this.engine) this.engine.requestStop('cancelled');
    else {
      line(this.io.stderr, 'Exiting now. Calls in flight are redone by the next run (genbatch resume).');
      process.exit(4);
    }
  };

  get cancelled(): boolean {
    return this.interrupts > 0;
  }

  budget(flags: RunFlags): Budget {
    const { job } = this.prepared;
    const today = new Date().toISOString().slice(0, 10);
    return new Budget(
      { ...(flags.budget ?? job.budget.maxUsd) === undefined ? {} : { maxUsd: flags.budget ?? job.budget.maxUsd }, ...(job.budget.dailyUsd === undefined ? {} : { dailyUsd: job.budget.dailyUsd }) },
      this.store.spentUsd(),
      this.store.spentUsd(`${today}T00:00:00.000Z`),
    );
  }

  /** One pass of the engine over (up to `limit`) items with work left. */
  async process(flags: RunFlags, limit: number | undefined, estimateUsd?: number): Promise<RunSummary> {
    const { job, catalog } = this.prepared;
    const engine = new Engine({ job, credentials: this.credentials, store: this.store, catalog, budget: this.budget(flags), ...(limit === undefined ? {} : { limit }) });
    this.engine = engine;
    // A live view on a terminal; plain progress lines for logs and cron; always a JSON log and metrics.
    if (this.io.stderr.isTTY && !flags.plain) attachLiveView(engine, this.io, estimateUsd === undefined ? {} : { estimateUsd });
    else attachRunReporter(engine, this.io);
    const log = attachRunLog(engine, { job, secrets: this.secrets, ...(flags.log ? { file: flags.log } : {}) });
    const detachMetrics = this.metrics.attach(engine);
    try {
      return await engine.run();
    } finally {
      this.engine = undefined;
      log.close();
      detachMetrics();
    }
  }

  async estimate(pilotItems?: number): Promise<JobEstimate> {
    const counter = await bestTokenCounter();
    return estimateJob(this.prepared, { store: this.store, counter, catalog: this.prepared.catalog, credentials: this.credentials, ...(pilotItems ? { pilotItems } : {}) });
  }

  async close(): Promise<void> {
    this.metrics.detach();
    this.watcher.stop();
    clearInterval(this.lockTimer);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    this.store.releaseLock(this.lockId);
    this.store.close();
    await this.emulator?.close();
  }
}

function finish(summary: RunSummary, flags: RunFlags, io: CliIO, estimate?: JobEstimate, spentBefore = 0, spentAfter = 0): number {
  if (summary.message) line(io.stderr, `${summary.message}${summary.hint ? `\nhint: ${summary.hint}` : ''}`);
  if (estimate) {
    const actual = spentAfter - spentBefore;
    line(io.stderr, `Estimate vs actual for this run: expected $${estimate.remaining_usd.expected.toFixed(4)} ($${estimate.remaining_usd.low.toFixed(4)}–$${estimate.remaining_usd.high.toFixed(4)}), spent $${actual.toFixed(4)}.`);
  }
  if (flags.json) line(io.stdout, JSON.stringify({ ...summary, ...(estimate ? { estimate_usd: estimate.remaining_usd, spent_usd: Math.round((spentAfter - spentBefore) * 1e6) / 1e6 } : {}) }));
  return summary.exitCode;
}

/**
 * `genbatch run JOB` and `genbatch resume JOB`: validate, estimate, confirm above the threshold
 * (never waiting without a TTY), optionally calibrate with a pilot, then process. Ctrl-C stops cleanly.
 */
export async function runCommand(jobFile: string, flags: RunFlags, io: CliIO): Promise<number> {
  if (statSync(jobFile, { throwIfNoEntry: false })?.isDirectory()) return runFolder(jobFile, flags, io);
  let jobName = jobFile;
  let notifyUrl = flags.notify;
  try {
    const prepared = await prepareJob(jobFile, { emulated: flags.emulator ?? false });
    jobName = prepared.job.name;
    notifyUrl = flags.notify ?? prepared.job.notify;
    return await runPrepared(prepared, jobFile, flags, io, notifyUrl);
  } catch (error) {
    // A run that could not start (invalid input, locked, declined) is reported too, when asked.
    if (notifyUrl) {
      const r = await notifySummary(notifyUrl, buildErrorSummary(jobName, error, isGenbatchError(error) ? error.exitCode : 1), flags.notifyTemplate);
      if (!r.ok) line(io.stderr, `warning: notify: ${r.error}`);
    }
    throw error;
  }
}

/**
 * `genbatch run DIR`: every job file of a folder in turn (sorted by name), for nightly runs. One
 * job's failure does not stop the others; the exit code is the first non-zero one.
 */
async function runFolder(dir: string, flags: RunFlags, io: CliIO): Promise<number> {
  const files = readdirSync(dir)
    .filter((name) => /\.(ya?ml|json)$/i.test(name))
    .sort()
    .map((name) => join(dir, name));
  if (files.length === 0) throw new GenbatchError(`No job files (.yaml, .yml, .json) in ${dir}.`, { code: 'USAGE', exitCode: 2 });
  const results: { file: string; code: number }[] = [];
  for (const file of files) {
    line(io.stderr, `── ${file}`);
    let code: number;
    try {
      code = await runCommand(file, flags, io);
    } catch (error) {
      code = renderError(error, io);
    }
    results.push({ file, code });
  }
  line(io.stderr, `Ran ${files.length} job(s): ${results.map((r) => `${basename(r.file)} → ${r.code}`).join(', ')}`);
  return results.find((r) => r.code !== 0)?.code ?? 0;
}

async function runPrepared(prepared: PreparedJob, jobFile: string, flags: RunFlags, io: CliIO, notifyUrl: string | undefined): Promise<number> {
  const { job } = prepared;
  if (notifyUrl) {
    const problem = checkNotifyUrl(notifyUrl) ?? (flags.notifyTemplate ? checkNotifyTemplate(flags.notifyTemplate) : undefined);
    if (problem) throw new GenbatchError(`--notify: ${problem}.`, { code: 'USAGE', exitCode: 2 });
  }
  if (flags.resumeOnly && !existsSync(job.stateFile)) {
    throw new GenbatchError(`There is no run of ${job.name} to resume (no state file at ${displayPath(job.stateFile)}).`, {
      code: 'NOTHING_TO_RESUME',
      exitCode: 2,
      hint: `Start it with: genbatch run ${jobFile}`,
    });
  }
  const session = await RunSession.open(prepared, flags, io);
  const { store } = session;
  const server = flags.metricsPort === undefined ? undefined : await serveMetrics(session.metrics.registry, flags.metricsPort);
  if (server) line(io.stderr, `Metrics: ${server.url}`);
  const stopMetricsFile = flags.metricsFile
    ? writeMetricsFilePeriodically(session.metrics.registry, flags.metricsFile, 15_000, (e) => line(io.stderr, `warning: metrics file: ${(e as Error).message}`))
    : undefined;
  const notify = async (summary: RunSummary): Promise<void> => {
    if (!notifyUrl) return;
    const r = await notifySummary(notifyUrl, buildRunSummary(job, store, summary), flags.notifyTemplate, { secrets: session.secrets });
    if (!r.ok) line(io.stderr, `warning: notify: ${r.error}`);
  };
  try {
    await syncItems(prepared, store, session.lockId);
    const stale = await findStaleItems(job, store);
    if (stale.length > 0 && flags.redoStale) {
      const names = job.steps.map((s) => s.name);
      for (const item of stale) store.resetSteps([item.id], names.slice(names.indexOf(item.fromStep)), ['done', 'failed', 'filtered']);
      line(io.stderr, `Redoing ${stale.length} stale item(s): their input row or templates changed since they were done.`);
    } else if (stale.length > 0) {
      line(io.stderr, `Note: ${stale.length} done item(s) are stale (input row or templates changed since); they are kept. Use --redo-stale to redo them.`);
    }
    if (store.pendingItemCount() === 0) {
      const summary = await session.process(flags, flags.limit);
      await notify(summary);
      return finish(summary, flags, io);
    }

    const spentBefore = store.spentUsd();
    if (flags.pilot) {
      line(io.stderr, `Pilot: running ${flags.pilot} item(s) for real to measure what the job costs.`);
      const pilot = await session.process(flags, flags.pilot);
      if (pilot.exitCode !== 0 || session.cancelled || store.pendingItemCount() === 0) {
        await notify(pilot);
        return finish(pilot, flags, io);
      }
    }
    const estimate = await session.estimate(flags.pilot);
    const threshold = job.budget.confirmAboveUsd;
    if (estimate.remaining_usd.expected > threshold && !flags.yes) {
      renderEstimate(estimate, io);
      if (!io.stdin.isTTY) {
        throw new GenbatchError(
          `The estimate ($${estimate.remaining_usd.expected.toFixed(2)} expected) is above budget.confirm_above_usd ($${threshold.toFixed(2)}) and there is no terminal to ask; nothing was sent.`,
          { code: 'CONFIRMATION_REQUIRED', exitCode: 4, hint: 'Pass --yes to allow it (e.g. in cron), raise budget.confirm_above_usd, or try --pilot N first.' },
        );
      }
      if (!(await confirm(`Spend about $${estimate.remaining_usd.expected.toFixed(2)} (up to $${estimate.remaining_usd.high.toFixed(2)})?`, io))) {
        line(io.stderr, 'Cancelled; nothing more was sent.');
        return 4;
      }
    }
    const summary = await session.process(flags, flags.limit, estimate.total_usd.expected);
    await notify(summary);
    return finish(summary, flags, io, estimate, spentBefore, store.spentUsd());
  } finally {
    await stopMetricsFile?.();
    await server?.close();
    await session.close();
  }
}
