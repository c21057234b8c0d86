import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { renderError } from '../render-error.js';
import type { RunSummary } from '../../engine/engine.js';
import { prepareJob, type PreparedJob } from '../../engine/prepare-job.js';
import { refuseInstalledExample } from '../../job/examples.js';
import { RunSession } from '../../engine/run-session.js';
import { GenbatchError } from '../../errors/genbatch-error.js';
import type { JobEstimate } from '../../engine/estimate-job.js';
import { notAJobFileReason } from '../../job/job-file-kind.js';
import { displayPath } from '../../job/load-job.js';
import { fileProblem } from '../../outputs/output-paths-check.js';
import { confirmSpend } from '../confirm.js';
import { line, type CliIO } from '../io.js';
import { blankLinesNote } from '../render-input.js';
import { attachRunReporter } from '../run-reporter.js';
import { attachLiveView } from '../live-view.js';
import { isGenbatchError } from '../../errors/genbatch-error.js';
import type { RunMetrics } from '../../observe/metrics.js';
import type { BudgetAlert } from '../../coordination/shared-budget.js';
import { buildBudgetAlertSummary, buildErrorSummary, buildRunSummary, checkNotifyTemplate, checkNotifyUrl, notifySummary } from '../../observe/notify.js';
import { secretsOf } from '../../observe/redact.js';
import { attachRunLog } from '../../observe/run-log.js';
import { setDamagedStateAside } from '../../store/fresh-state.js';

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
  acceptChanges?: boolean;
  /** `run`: move a damaged state file aside and start over (see setDamagedStateAside). */
  freshState?: boolean;
  /** Plain progress lines even on a terminal. */
  plain?: boolean;
  /** Submit batch jobs and exit 0 without waiting for them; the next run collects them. */
  wait?: boolean;
  /** Failed items left by earlier runs make this run exit 1 too. */
  strict?: boolean;
  /** `--no-cache`: false. */
  cache?: boolean;
  log?: string;
  metricsPort?: number;
  metricsFile?: string;
  notify?: string;
  notifyTemplate?: string;
}

/** Input rows above which a run trades a little speed for bounded memory (see boundHeapForLongRuns). */
const LONG_RUN_ITEMS = 20_000;

/**
 * A run keeps little (some 26 MB live over a million-row job) but allocates a few KB per call, and
 * V8's default heap growth then lets the heap reach four times what is live before a full
 * collection: a long run at 500 calls a second settled near 275 MB. A fixed growth of 30% keeps
 * it under 200 MB, for about 5% more CPU, so only runs over big inputs pay that. It is set before
 * the sync, which overshoots the same way (a resume after one row of a million changed peaked at
 * 176 to 213 MB), and holds for the pass. The CLI's own process only: the library never changes
 * its host's heap.
 */
function boundHeapForLongRuns(items: number): void {
  if (items > LONG_RUN_ITEMS) setFlagsFromString('--heap-growing-percent=30');
}

/**
 * Opens the engine's run session for a command: starts the in-process emulator for `--emulator`
 * (the CLI's business: the engine never imports the emulator), and renders what the session says.
 * Every pass gets a live view (or plain lines), a run log, and metrics when they are asked for
 * (--metrics-port, --metrics-file): prom-client is loaded, and counts every event, only then.
 */
export async function openRunSession(
  prepared: PreparedJob,
  flags: RunFlags,
  io: CliIO,
  view: { estimateUsd?: number } = {},
): Promise<{ session: RunSession; metrics: RunMetrics | undefined }> {
  // The emulator (and sharp, which it draws images with) is loaded only for --emulator.
  const { startEmulatorForCredentials, keepPromptCounts } = flags.emulator
    ? await import('../emulated-credentials.js')
    : { startEmulatorForCredentials: undefined, keepPromptCounts: undefined };
  const emulator = startEmulatorForCredentials
    ? await startEmulatorForCredentials(
        prepared.credentials,
        prepared.job.steps.map((s) => s.model),
      )
    : undefined;
  if (emulator) line(io.stderr, `Using the in-process Vertex AI emulator at ${emulator.url} (no Google account, nothing billed).`);
  const secrets = secretsOf(prepared.credentials);
  const notifyUrl = flags.notify ?? prepared.job.notify;
  let session: RunSession;
  try {
    session = RunSession.open(prepared, {
      emulated: flags.emulator ?? false,
      ...(emulator ? { credentials: emulator.credentials, transformCredentials: emulator.redirect } : {}),
      ...(flags.budget === undefined ? {} : { budgetUsd: flags.budget }),
      ...(flags.wait === false ? { noWait: true } : {}),
      ...(flags.cache === false ? { noCache: true } : {}),
      ...(flags.strict ? { strict: true } : {}),
      onNotice: (message) => line(io.stderr, message),
      // The credentials file's shared daily budget crossed alert_at: one run sends it, once a day (it needs somewhere to send it).
      ...(notifyUrl
        ? {
            onBudgetAlert: async (alert: BudgetAlert) => {
              const r = await notifySummary(notifyUrl, buildBudgetAlertSummary(prepared.job, session.store, session.runId, alert), flags.notifyTemplate, {
                secrets,
              });
              line(
                io.stderr,
                r.ok ? `Shared budget alert sent: $${alert.spentUsd.toFixed(4)} of $${alert.dailyUsd.toFixed(2)} spent today.` : `warning: notify: ${r.error}`,
              );
            },
          }
        : {}),
      onEngine: (engine) => {
        // A live view on a terminal; plain progress lines for logs and cron; always a JSON log and metrics.
        if (io.stderr.isTTY && !flags.plain) attachLiveView(engine, io, view.estimateUsd === undefined ? {} : { estimateUsd: view.estimateUsd });
        else attachRunReporter(engine, io);
        const log = attachRunLog(engine, { job: prepared.job, secrets, ...(flags.log ? { file: flags.log } : {}) });
        const detachMetrics = metrics?.attach(engine);
        return () => {
          log.close();
          detachMetrics?.();
        };
      },
    });
  } catch (error) {
    await emulator?.close();
    throw error;
  }
  const wanted = flags.metricsPort !== undefined || flags.metricsFile !== undefined;
  const metrics = wanted ? (await import('../../observe/metrics.js')).createRunMetrics(undefined, session.store, { job: prepared.job.name }) : undefined;
  if (emulator) session.defer(() => emulator.close());
  if (emulator && keepPromptCounts) session.defer(keepPromptCounts(emulator, session.store));
  if (metrics) session.defer(() => metrics.detach());
  // First Ctrl-C: stop taking work, checkpoint the calls in flight. Second: exit at once.
  let interrupts = 0;
  const onSignal = (): void => {
    interrupts += 1;
    if (interrupts === 1) session.requestStop('cancelled');
    else {
      line(io.stderr, 'Exiting now. Calls in flight are redone by the next run (genbatch resume).');
      // The run row says how it ended (status: cancelled, exit 4), not "killed"; the next run still checks what it left.
      session.recordExit('cancelled', 4);
      process.exit(4);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  session.defer(() => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
  return { session, metrics };
}

function finish(summary: RunSummary, flags: RunFlags, io: CliIO, estimate?: JobEstimate, spentBefore = 0, spentAfter = 0): number {
  if (summary.message) line(io.stderr, `${summary.message}${summary.hint ? `\nhint: ${summary.hint}` : ''}`);
  if (estimate) {
    const actual = spentAfter - spentBefore;
    line(
      io.stderr,
      `Estimate vs actual for this run: expected $${estimate.remaining_usd.expected.toFixed(4)} ($${estimate.remaining_usd.low.toFixed(4)}–$${estimate.remaining_usd.high.toFixed(4)}${estimate.cached_answers?.answers ? `; ${estimate.cached_answers.answers} of ${estimate.cached_answers.of} answers in the response cache: $0` : ''}), spent $${actual.toFixed(4)}.`,
    );
  }
  if (flags.json)
    line(
      io.stdout,
      JSON.stringify({
        ...summary,
        ...(estimate ? { estimate_usd: estimate.remaining_usd, spent_usd: Math.round((spentAfter - spentBefore) * 1e6) / 1e6 } : {}),
      }),
    );
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
    // An example inside the installed package would write its state and outputs there: `genbatch init` copies it out.
    refuseInstalledExample(jobFile);
    // The rows of an input already validated and synced (same content) are not parsed again.
    const prepared = await prepareJob(jobFile, { emulated: flags.emulator ?? false, reuseValidation: true });
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
 * job's failure does not stop the others; the exit code is the first non-zero one. Other YAML and
 * JSON files (the credentials file, an emulator config) are skipped, each with a line saying why.
 */
async function runFolder(dir: string, flags: RunFlags, io: CliIO): Promise<number> {
  const candidates = readdirSync(dir)
    .filter((name) => /\.(ya?ml|json)$/i.test(name))
    .sort()
    .map((name) => join(dir, name));
  const files: string[] = [];
  for (const file of candidates) {
    const skip = await notAJobFileReason(file);
    if (skip) line(io.stderr, `Skipping ${displayPath(file)}: ${skip}.`);
    else files.push(file);
  }
  if (files.length === 0) {
    throw new GenbatchError(`No job files in ${dir}${candidates.length > 0 ? ` (${candidates.length} other YAML/JSON file(s) skipped)` : ''}.`, {
      code: 'USAGE',
      exitCode: 2,
      hint: 'A job file has `version: 1` and `steps:` at the top level (see README.md).',
    });
  }
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
  // Checked with the job's own output paths, before anything is sent (the run log is checked as it opens).
  const metricsProblem = flags.metricsFile === undefined ? undefined : fileProblem(resolve(flags.metricsFile));
  if (flags.metricsFile !== undefined && metricsProblem !== undefined) {
    throw new GenbatchError(`--metrics-file ${displayPath(resolve(flags.metricsFile))} ${metricsProblem}.`, {
      code: 'USAGE',
      exitCode: 2,
      hint: 'Give --metrics-file a file in a folder this user can write (node_exporter reads *.prom files). Nothing was sent.',
    });
  }
  if (flags.resumeOnly && !existsSync(job.stateFile)) {
    throw new GenbatchError(`There is no run of ${job.name} to resume (no state file at ${displayPath(job.stateFile)}).`, {
      code: 'NOTHING_TO_RESUME',
      exitCode: 2,
      hint: `Start it with: genbatch run ${jobFile}`,
    });
  }
  if (flags.freshState) {
    const fresh = setDamagedStateAside(job.stateFile);
    if ('movedTo' in fresh)
      line(io.stderr, `Moved the damaged state file aside to ${displayPath(fresh.movedTo)}; starting over with a fresh state (every item is done again).`);
    else if (fresh.kept === 'sound') line(io.stderr, `--fresh-state: the state file ${displayPath(job.stateFile)} is sound; it is kept and resumed.`);
  }
  const view: { estimateUsd?: number } = {};
  const blank = blankLinesNote(job.input.file, prepared.blankLines);
  if (blank) line(io.stderr, blank);
  boundHeapForLongRuns(prepared.rows);
  const { session, metrics } = await openRunSession(prepared, flags, io, view);
  const { store } = session;
  const { serveMetrics, writeMetricsFilePeriodically } = metrics ? await import('../../observe/metrics.js') : {};
  const server = flags.metricsPort === undefined || !metrics || !serveMetrics ? undefined : await serveMetrics(metrics.registry, flags.metricsPort);
  if (server) line(io.stderr, `Metrics: ${server.url}`);
  const stopMetricsFile =
    flags.metricsFile && metrics && writeMetricsFilePeriodically
      ? writeMetricsFilePeriodically(metrics.registry, flags.metricsFile, 15_000, (e) => line(io.stderr, `warning: metrics file: ${(e as Error).message}`))
      : undefined;
  const secrets = secretsOf(prepared.credentials);
  const notify = async (summary: RunSummary): Promise<void> => {
    if (!notifyUrl) return;
    const r = await notifySummary(notifyUrl, buildRunSummary(job, store, summary), flags.notifyTemplate, { secrets });
    if (!r.ok) line(io.stderr, `warning: notify: ${r.error}`);
  };
  try {
    const synced = await session.sync({ redoStale: flags.redoStale ?? false, acceptChanges: flags.acceptChanges ?? false });
    if (synced.redone > 0) line(io.stderr, `Redoing ${synced.redone} stale item(s): their input row or templates changed since they were done.`);
    else if (synced.stale > 0)
      line(io.stderr, `Note: ${synced.stale} done item(s) are stale (input row or templates changed since); they are kept. Use --redo-stale to redo them.`);
    if (session.pendingItems() === 0) {
      const summary = await session.pass(flags.limit);
      await notify(summary);
      return finish(summary, flags, io);
    }

    const threshold = job.budget.confirmAboveUsd;
    if (flags.pilot) {
      // A pilot spends too: above the threshold, its own items are confirmed first.
      const pilotEstimate = await session.estimate(undefined, flags.pilot);
      if (!(await confirmSpend(pilotEstimate, { threshold, yes: flags.yes, what: `a pilot of ${pilotEstimate.remaining_items} item(s)` }, io))) {
        line(io.stderr, 'Cancelled; nothing was sent.');
        return 4;
      }
      line(io.stderr, `Pilot: running ${flags.pilot} item(s) for real to measure what the job costs.`);
      view.estimateUsd = pilotEstimate.remaining_usd.expected;
      const pilot = await session.pilot(flags.pilot);
      if (pilot.exitCode !== 0 || session.stopping || session.pendingItems() === 0) {
        await notify(pilot);
        return finish(pilot, flags, io);
      }
    }
    // What this pass will do: what is left, or with --limit the next N items; confirmed and then
    // compared with what the pass spent (a pilot's spend is not part of it).
    const estimate = await session.estimate(flags.pilot, flags.limit);
    const scope =
      estimate.limit !== null && estimate.remaining_items < session.pendingItems() ? `the next ${estimate.remaining_items} item(s) (--limit)` : undefined;
    if (!(await confirmSpend(estimate, { threshold, yes: flags.yes, ...(scope ? { what: scope } : {}) }, io))) {
      line(io.stderr, 'Cancelled; nothing more was sent.');
      return 4;
    }
    view.estimateUsd = estimate.remaining_usd.expected;
    const spentBefore = session.spentUsd();
    const summary = await session.pass(flags.limit);
    await notify(summary);
    return finish(summary, flags, io, estimate, spentBefore, session.spentUsd());
  } finally {
    await stopMetricsFile?.();
    await server?.close();
    await session.close();
  }
}
