import type { BudgetAlert } from '../coordination/shared-budget.js';
import type { RunSummary } from '../engine/engine.js';
import { buildStatus, readCounts, type StateCounts } from '../engine/status.js';
import type { Job } from '../job/job.js';
import { formatDuration } from '../job/duration.js';
import type { StatusReadModel } from '../store/interfaces/status-read-model.js';
import { proxiedFetch } from '../providers/http-fetch.js';
import { displayUrl, scrubText, scrubValue } from './redact.js';

/** What `--notify URL` receives when a run ends (docs/nightly.md documents it). */
export interface NotifySummary {
  job: string;
  run_id: string | null;
  /** The run's outcome (finished, failed_items, batch_stopped, budget, cancelled, stalled, no_projects), or invalid, locked, error when the run could not start. */
  outcome: string;
  exit_code: number;
  total: number;
  /** Items by state, over the whole job. */
  counts: StateCounts;
  /** Spent and calls made by this run. */
  cost_usd: number;
  requests: number;
  /** Spent and calls over every run of the job. */
  job_cost_usd: number;
  job_requests: number;
  duration_s: number;
  /** The first 10 failed or filtered steps, in input order. */
  failures: { id: string; step: string; error: string; message: string }[];
  failures_total: number;
  started_at: string | null;
  ended_at: string;
  /** Why the run stopped, when it says more than the outcome (budget, stall), and what to do. */
  message?: string;
  hint?: string;
  /** With outcome `budget_alert`: the credentials file's shared daily budget crossed its alert_at (the run goes on). */
  budget_alert?: { day: string; daily_usd: number; alert_at: number; spent_usd: number; credentials: string };
}

const MAX_FAILURES = 10;
const MAX_MESSAGE = 500;
const round6 = (n: number): number => Math.round(n * 1e6) / 1e6;
const clip = (text: string): string => (text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text);

function zeroCounts(): StateCounts {
  return { pending: 0, running: 0, done: 0, failed: 0, filtered: 0 };
}

/** The summary of a run that ended (any outcome), from the engine's result and the state file. */
export function buildRunSummary(job: Job, store: StatusReadModel, runSummary: RunSummary): NotifySummary {
  const status = buildStatus(job, store, { maxFailures: MAX_FAILURES });
  const failuresTotal = readCounts(store).steps;
  const thisRun = store.ledger.totals(runSummary.runId);
  const run = store.getRun(runSummary.runId);
  return {
    job: job.name,
    run_id: runSummary.runId,
    outcome: runSummary.outcome,
    exit_code: runSummary.exitCode,
    total: status.total,
    counts: status.counts,
    cost_usd: round6(thisRun.costUsd),
    requests: thisRun.requests,
    job_cost_usd: status.cost_usd,
    job_requests: status.requests,
    duration_s: Math.round(runSummary.durationMs / 100) / 10,
    failures: status.failures.map((f) => ({ ...f, message: clip(f.message) })),
    failures_total: failuresTotal.failed + failuresTotal.filtered,
    started_at: run?.startedAt ?? null,
    ended_at: run?.endedAt ?? new Date().toISOString(),
    ...(runSummary.message ? { message: clip(runSummary.message) } : {}),
    ...(runSummary.hint ? { hint: clip(runSummary.hint) } : {}),
  };
}

/**
 * The day's spend of every job using a credentials file crossed its `budget.alert_at`: sent once per
 * day (by the run whose call crossed it) with outcome `budget_alert`; the run goes on (exit_code 0).
 */
export function buildBudgetAlertSummary(job: Job, store: StatusReadModel, runId: string, alert: BudgetAlert): NotifySummary {
  const read = readCounts(store);
  const thisRun = store.ledger.totals(runId);
  const run = store.getRun(runId);
  const share = Math.round((alert.spentUsd / alert.dailyUsd) * 100);
  return {
    job: job.name,
    run_id: runId,
    outcome: 'budget_alert',
    exit_code: 0,
    total: read.total,
    counts: read.items,
    cost_usd: round6(thisRun.costUsd),
    requests: thisRun.requests,
    job_cost_usd: round6(read.costUsd),
    job_requests: read.requests,
    duration_s: run ? Math.round((Date.now() - Date.parse(run.startedAt)) / 100) / 10 : 0,
    failures: [],
    failures_total: read.steps.failed + read.steps.filtered,
    started_at: run?.startedAt ?? null,
    ended_at: new Date().toISOString(),
    message: clip(
      `Shared daily budget: $${alert.spentUsd.toFixed(4)} of $${alert.dailyUsd.toFixed(2)} (${share}%) spent on ${alert.day} (UTC) by the jobs using ${alert.credentialsFile}; the alert is at ${Math.round(alert.alertAt * 100)}%.`,
    ),
    hint: clip(
      `\`genbatch cost --all ${alert.credentialsFile}\` shows the spend per job and project. Runs stop (exit 3) before budget.daily_usd would be crossed.`,
    ),
    budget_alert: { day: alert.day, daily_usd: alert.dailyUsd, alert_at: alert.alertAt, spent_usd: round6(alert.spentUsd), credentials: alert.credentialsFile },
  };
}

/** Outcome names for runs that ended before the engine ran (exit codes of product.md). */
const ERROR_OUTCOMES: Record<number, string> = { 2: 'invalid', 4: 'cancelled', 5: 'locked' };

/**
 * The summary of a command that failed before or outside a run: invalid job or credentials (2),
 * another run active (5), or a crash. Counts come from the state file when there is one.
 */
export function buildErrorSummary(
  jobName: string,
  error: unknown,
  exitCode: number,
  options: { store?: StatusReadModel; startedAt?: Date } = {},
): NotifySummary {
  const message = error instanceof Error ? error.message : String(error);
  const hint = (error as { hint?: unknown } | null)?.hint;
  let counts = zeroCounts();
  let total = 0;
  let jobCost = 0;
  let jobRequests = 0;
  if (options.store?.isOpen) {
    const read = readCounts(options.store);
    counts = read.items;
    total = read.total;
    jobCost = round6(read.costUsd);
    jobRequests = read.requests;
  }
  const started = options.startedAt ?? new Date();
  return {
    job: jobName,
    run_id: null,
    outcome: ERROR_OUTCOMES[exitCode] ?? 'error',
    exit_code: exitCode,
    total,
    counts,
    cost_usd: 0,
    requests: 0,
    job_cost_usd: jobCost,
    job_requests: jobRequests,
    duration_s: Math.round((Date.now() - started.getTime()) / 100) / 10,
    failures: [],
    failures_total: counts.failed + counts.filtered,
    started_at: started.toISOString(),
    ended_at: new Date().toISOString(),
    message: clip(message),
    ...(typeof hint === 'string' && hint ? { hint: clip(hint) } : {}),
  };
}

/** One paragraph for chat messages: how the run ended, counts, cost, and the first failures. */
export function summaryText(s: NotifySummary): string {
  const c = s.counts;
  const head = `genbatch ${s.job}: ${s.outcome} (exit ${s.exit_code}). ${c.done} of ${s.total} items done, ${c.failed} failed, ${c.filtered} filtered, ${c.pending + c.running} pending.`;
  const spend = ` This run: $${s.cost_usd.toFixed(4)} over ${s.requests} calls in ${formatDuration(s.duration_s * 1000)}.`;
  const why = s.message ? ` ${s.message}` : '';
  const firsts = s.failures.slice(0, 3).map((f) => `${f.id} [${f.step}] ${f.error}: ${f.message}`);
  const more = s.failures_total > firsts.length ? ` (${s.failures_total} in all)` : '';
  return `${head}${spend}${why}${firsts.length ? ` Failures${more}: ${firsts.join('; ')}` : ''}`;
}

/** The placeholders a `--notify-template` may use. */
export const TEMPLATE_FIELDS = [
  'job',
  'run_id',
  'outcome',
  'exit_code',
  'total',
  'done',
  'failed',
  'filtered',
  'pending',
  'cost_usd',
  'requests',
  'duration_s',
  'started_at',
  'ended_at',
  'summary',
] as const;
type TemplateField = (typeof TEMPLATE_FIELDS)[number];

function fieldValues(s: NotifySummary): Record<TemplateField, string | number> {
  return {
    job: s.job,
    run_id: s.run_id ?? '',
    outcome: s.outcome,
    exit_code: s.exit_code,
    total: s.total,
    done: s.counts.done,
    failed: s.counts.failed,
    filtered: s.counts.filtered,
    pending: s.counts.pending + s.counts.running,
    cost_usd: s.cost_usd,
    requests: s.requests,
    duration_s: s.duration_s,
    started_at: s.started_at ?? '',
    ended_at: s.ended_at,
    summary: summaryText(s),
  };
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_]+)\s*\}\}/g;

/**
 * Fills a template's {{placeholders}}, each value JSON-escaped (so it can sit inside a JSON string),
 * and checks that the result is JSON. Throws an Error whose message says what is wrong.
 */
export function renderNotifyTemplate(template: string, summary: NotifySummary): string {
  const values = fieldValues(summary);
  const unknown = [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '').filter((name) => !(TEMPLATE_FIELDS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(`the notify template names {{${unknown[0]}}}, which is not a summary field (fields: ${TEMPLATE_FIELDS.join(', ')})`);
  }
  const body = template.replace(PLACEHOLDER, (_m, name: string) => JSON.stringify(String(values[name as TemplateField])).slice(1, -1));
  try {
    JSON.parse(body);
  } catch (error) {
    throw new Error(
      `the notify template does not produce JSON (${(error as Error).message}); put string placeholders inside quotes, e.g. {"text": "{{summary}}"}`,
      { cause: error },
    );
  }
  return body;
}

/** Checks a template before a run starts, so a typo is reported (exit 2) before anything is spent. Undefined when it is fine. */
export function checkNotifyTemplate(template: string): string | undefined {
  const sample: NotifySummary = {
    job: 'job "name"',
    run_id: 'run',
    outcome: 'finished',
    exit_code: 0,
    total: 1,
    counts: { pending: 0, running: 0, done: 1, failed: 0, filtered: 0 },
    cost_usd: 0,
    requests: 1,
    job_cost_usd: 0,
    job_requests: 1,
    duration_s: 1,
    failures: [],
    failures_total: 0,
    started_at: '2000-01-01T00:00:00.000Z',
    ended_at: '2000-01-01T00:00:01.000Z',
  };
  try {
    renderNotifyTemplate(template, sample);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Checks a notify URL before a run starts. Undefined when it is fine. */
export function checkNotifyUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'the notify URL is not a valid URL (expected http:// or https://...)';
  }
  return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? undefined : `the notify URL must be http:// or https://, not ${parsed.protocol}`;
}

export type NotifyResult = { ok: true; status: number } | { ok: false; status?: number; error: string };

export interface NotifyOptions {
  /** Default 10 s. */
  timeoutMs?: number;
  /** Secret values to remove from the body (see secretsOf(credentials)). */
  secrets?: readonly string[];
}

/**
 * POSTs the summary as JSON (or the template filled from it) to `url`. Never throws: a failure is
 * returned as a sentence that names the host but never the URL's path or query (webhook URLs hold
 * their token there). Nothing secret is sent: every string in the summary is scrubbed first.
 */
export async function notifySummary(url: string, summary: NotifySummary, template?: string, options: NotifyOptions = {}): Promise<NotifyResult> {
  const where = displayUrl(url);
  const urlProblem = checkNotifyUrl(url);
  if (urlProblem) return { ok: false, error: `Notification not sent: ${urlProblem}.` };
  const clean = scrubValue(summary, options.secrets ?? []);
  let body: string;
  try {
    body = template === undefined ? JSON.stringify(clean) : renderNotifyTemplate(template, clean);
  } catch (error) {
    return { ok: false, error: `Notification not sent: ${(error as Error).message}.` };
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  try {
    const response = await proxiedFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'genbatch' },
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (response.ok) return { ok: true, status: response.status };
    return {
      ok: false,
      status: response.status,
      error: `Notification to ${where} was refused: HTTP ${response.status} ${response.statusText}.`.replace(/ \.$/, '.'),
    };
  } catch (error) {
    const name = (error as Error).name;
    const reason =
      name === 'TimeoutError' || name === 'AbortError'
        ? `no answer within ${formatDuration(timeoutMs)}`
        : scrubText(((error as Error).cause as Error | undefined)?.message ?? (error as Error).message)
            .split(url)
            .join(where);
    return { ok: false, error: `Notification to ${where} failed: ${reason}.` };
  }
}
