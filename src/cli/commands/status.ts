import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { projectKey } from '../../coordination/quota-key.js';
import { runsSharing, sharedWindows, type SharedWindowView } from '../../coordination/shared-view.js';
import { loadCredentials } from '../../credentials/load-credentials.js';
import { buildStatus } from '../../engine/status.js';
import { staleNow } from '../../engine/staleness.js';
import { checkStateOwner } from '../../engine/state-owner.js';
import type { Job } from '../../job/job.js';
import { loadJob, displayPath } from '../../job/load-job.js';
import { openStateToRead } from '../../store/open-state.js';
import { lockHolderState } from '../../store/process-alive.js';
import { CACHE_LEDGER_PROJECT, type RunRow } from '../../store/rows.js';
import { line, type CliIO } from '../io.js';
import { unknownSpend } from '../render-spend.js';

interface OtherRuns {
  runs: { job: string; job_file: string; run_id: string; host: string; pid: number; started_at: string; projects: string[] }[] | null;
  /** The shared-capacity windows (per model and location) every run at these locations paces with. */
  windows: SharedWindowView[];
  /** Why they are not known (the coordination server cannot be reached, the credentials file cannot be read). */
  error?: string;
}

/**
 * Other runs going now on this job's Google Cloud projects (other jobs, or this job started from
 * another file), from where runs share: this host's shared file, or Redis with `coordination:`.
 */
async function otherRuns(job: Job): Promise<OtherRuns> {
  try {
    const credentials = await loadCredentials(job.credentialsFile, { emulated: true });
    const names = new Map<string, string[]>();
    for (const p of credentials.projects) names.set(projectKey(p), [...(names.get(projectKey(p)) ?? []), p.name]);
    const [{ runs }, { windows }] = await Promise.all([runsSharing(credentials), sharedWindows(credentials)]);
    return {
      windows,
      runs: runs
        .filter((r) => resolve(r.jobFile) !== resolve(job.file))
        .map((r) => ({
          job: r.job,
          job_file: r.jobFile,
          run_id: r.runId,
          host: r.host,
          pid: r.pid,
          started_at: r.startedAt,
          projects: r.projects.flatMap((key) => names.get(key) ?? []),
        })),
    };
  } catch (error) {
    return { runs: null, windows: [], error: error instanceof Error ? error.message : String(error) };
  }
}

function otherRunsLines(others: OtherRuns): string[] {
  if (others.runs === null) return [`Other runs on its projects: unknown (${others.error ?? 'not readable'})`];
  const windows = others.windows.map(
    (w) =>
      `  ${w.model} in ${w.location}: window ${w.limit} call(s), ${w.inFlight} in flight, ${(100 * w.refusedShare).toFixed(1)}% of recent calls refused (429)`,
  );
  return [
    ...(windows.length === 0 ? [] : ['Shared capacity (dynamic shared quota; every run at these locations paces with the same window):', ...windows]),
    ...(others.runs.length === 0
      ? []
      : [
          `Other runs sharing its projects (limits, cooldowns and the shared budget count them too):`,
          ...others.runs.map((r) => `  ${r.job} (run ${r.run_id}, pid ${r.pid} on ${r.host}, since ${r.started_at}): ${r.projects.join(', ')}`),
        ]),
  ];
}

/** The windows as `status --json` gives them. */
function windowsJson(windows: SharedWindowView[]): object[] {
  return windows.map((w) => ({
    model: w.model,
    location: w.location,
    window: w.limit,
    in_flight: w.inFlight,
    share_429: Number(w.refusedShare.toFixed(4)),
    successes: w.successes,
    refusals: w.refusals,
    timeouts: w.timeouts,
    updated_at: new Date(w.updatedAt).toISOString(),
  }));
}

/**
 * A run row that never ended: its process still runs, or it was killed (kill -9, a crash, the
 * machine went down). On this host the pid tells; on another, only the heartbeat can.
 */
function openRunState(run: RunRow | undefined): string {
  if (!run || run.pid === null) return 'still running or killed';
  const state = lockHolderState(run.pid, run.host ?? hostname());
  if (state === 'gone') return `killed (pid ${run.pid} is gone)`;
  if (state === 'running') return `still running (pid ${run.pid})`;
  return `running on ${run.host ?? 'another host'} (pid ${run.pid}) or killed there; last heartbeat ${run.heartbeatAt ?? run.startedAt}`;
}

function runGone(run: RunRow | undefined): boolean {
  return run?.pid != null && lockHolderState(run.pid, run.host ?? hostname()) === 'gone';
}

/** The command that continues the job, last, so that the person can copy it (none when all is done). */
function nextCommand(jobFile: string, c: { pending: number; running: number; failed: number }, killed: boolean): string | undefined {
  if (c.pending + c.running > 0 || killed) return `To continue: genbatch resume ${jobFile}`;
  if (c.failed > 0) return `To try the failed items again: genbatch retry ${jobFile} --failed, then genbatch resume ${jobFile}`;
  return undefined;
}

/** `genbatch status JOB [--json]`: what is done, pending, failed (with reasons), and what it cost. */
export async function statusCommand(jobFile: string, flags: { json?: boolean }, io: CliIO): Promise<number> {
  const job = await loadJob(jobFile);
  const others = await otherRuns(job);
  const sharedJson = {
    shared_runs: others.runs,
    capacity_windows: windowsJson(others.windows),
    ...(others.error === undefined ? {} : { shared_runs_error: others.error }),
  };
  if (!existsSync(job.stateFile)) {
    if (flags.json) {
      line(
        io.stdout,
        JSON.stringify({
          job: job.name,
          state_file: job.stateFile,
          total: 0,
          counts: { pending: 0, running: 0, done: 0, failed: 0, filtered: 0 },
          steps: {},
          cost_usd: 0,
          unsettled_max_usd: 0,
          unsettled_calls: 0,
          stale: 0,
          requests: 0,
          failures: [],
          finish_reasons: {},
          step_finish_reasons: {},
          checks: {},
          check_outcomes: {},
          models: {},
          last_run: null,
          batches: [],
          ...sharedJson,
        }),
      );
    } else {
      line(io.stderr, `${job.name}: not started yet (no state file at ${displayPath(job.stateFile)}).`);
      for (const text of otherRunsLines(others)) line(io.stderr, text);
    }
    return 0;
  }
  const store = openStateToRead(job.stateFile);
  try {
    // Another job file's state (same name in the same folder) is not shown as this one's.
    checkStateOwner(store, job, { claim: false });
    const status = buildStatus(job, store, { stale: await staleNow(job, store) });
    if (flags.json) {
      line(io.stdout, JSON.stringify({ ...status, ...sharedJson }, null, 2));
      return 0;
    }
    const c = status.counts;
    const out = io.stdout;
    line(out, `${status.job}: ${status.total} items — ${c.done} done, ${c.pending} pending, ${c.running} running, ${c.failed} failed, ${c.filtered} filtered`);
    for (const [name, s] of Object.entries(status.steps)) {
      const models = status.models[name];
      const step = job.steps.find((st) => st.name === name);
      // Which models made the done items, when another than the step's own did (a fallback).
      const byModel = Object.entries(models?.by_model ?? {});
      const modelNote = byModel.some(([m]) => m !== step?.model) ? ` (${byModel.map(([m, n]) => `${n} by ${m}`).join(', ')})` : '';
      const cacheNote = models && models.cached > 0 ? `, ${models.cached} of them from the response cache` : '';
      line(
        out,
        `  step ${name}: ${s.done} done${modelNote}${cacheNote}, ${s.pending} pending, ${s.running} running, ${s.failed} failed, ${s.filtered} filtered`,
      );
    }
    // Why the model stopped, when it was not STOP: cut replies, filters, retried reasons.
    const unusual = Object.entries(status.finish_reasons).filter(([reason]) => reason !== 'STOP');
    if (unusual.length > 0) {
      const truncated = Object.values(status.step_finish_reasons).reduce((n, s) => n + s.truncated, 0);
      const kept = truncated > 0 ? `; ${truncated} cut reply(ies) kept as done (on_truncated: keep)` : '';
      line(out, `Finish reasons other than STOP: ${unusual.map(([reason, n]) => `${reason} ${n}`).join(', ')}${kept} (docs/finish-reasons.md)`);
    }
    // Quality gates (issue 28): per check, outputs passing and failing; per step, what the gate did.
    const checks = Object.entries(status.checks);
    if (checks.length > 0) line(out, `Checks: ${checks.map(([name, n]) => `${name} ${n.passed} passed, ${n.failed} failed`).join('; ')}`);
    for (const [name, outcomes] of Object.entries(status.check_outcomes))
      line(
        out,
        `  step ${name} checks: ${Object.entries(outcomes)
          .map(([outcome, n]) => `${n} ${outcome}`)
          .join(', ')}`,
      );
    if (status.stale > 0)
      line(out, `Stale: ${status.stale} done item(s) changed since (input row or templates); \`genbatch run JOB --redo-stale\` redoes them.`);
    line(out, `Cost so far: $${status.cost_usd.toFixed(4)} over ${status.requests} API calls`);
    if (status.unsettled_calls > 0) line(out, unknownSpend(status.unsettled_calls, status.unsettled_max_usd));
    for (const p of status.projects) {
      if (p.name === CACHE_LEDGER_PROJECT) {
        line(out, `  response cache: ${p.requests} answer(s) served without a call, $0`);
        continue;
      }
      line(
        out,
        `  project ${p.name}: ${p.requests} calls, ${p.ok} ok, ${p.rejected_429} rejected by quota (429), ${p.errors} other errors, $${p.cost_usd.toFixed(4)}`,
      );
    }
    for (const text of otherRunsLines(others)) line(out, text);
    if (status.last_run) {
      const r = status.last_run;
      line(
        out,
        `Last run ${r.id}: started ${r.started_at}, ${r.ended_at ? `ended ${r.ended_at}, ${r.outcome} (exit ${r.exit_code})` : openRunState(store.lastRun())}`,
      );
    }
    if (status.batches.length > 0) {
      const open = status.batches.filter((b) => !b.state.endsWith('(settled)')).length;
      line(out, `Batch jobs (${status.batches.length}, ${open} not settled):`);
      for (const b of status.batches.slice(0, 20))
        line(
          out,
          `  ${b.name} [${b.step}] on ${b.project}: ${b.state}, ${b.requests} requests, ${b.succeeded} ok, ${b.failed} failed, created ${b.created_at}${
            b.unmatched_lines + b.missing_items > 0 ? `; ${b.unmatched_lines} line(s) matched no item, ${b.missing_items} item(s) got no line` : ''
          }${b.unreadable_lines > 0 ? `; ${b.unreadable_lines} billed line(s) could not be read (booked at their worst case)` : ''}`,
        );
    }
    if (status.failures.length > 0) {
      line(out, `Failures (${status.failures.length}):`);
      for (const f of status.failures.slice(0, 20))
        line(out, `  ${f.id} [${f.step}] ${f.error}${f.finish_reason && !f.message.includes(f.finish_reason) ? ` (${f.finish_reason})` : ''}: ${f.message}`);
      if (status.failures.length > 20) line(out, `  … ${status.failures.length - 20} more (status --json lists them all)`);
    }
    const next = nextCommand(jobFile, status.counts, status.last_run !== null && status.last_run.ended_at === null && runGone(store.lastRun()));
    if (next) line(out, next);
    return 0;
  } finally {
    store.close();
  }
}
