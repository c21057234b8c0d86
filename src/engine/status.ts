import type { Job } from '../job/job.js';
import type { StatusReadModel } from '../store/interfaces/status-read-model.js';
import type { StepState } from '../store/step-state.js';

export type StateCounts = Record<StepState, number>;

function zeroCounts(): StateCounts {
  return { pending: 0, running: 0, done: 0, failed: 0, filtered: 0 };
}

export interface Counts {
  total: number;
  /** Per item: done when every step is done; failed/filtered when a step is; running; else pending. */
  items: StateCounts;
  /** All step rows together. */
  steps: StateCounts;
  byStep: Record<string, StateCounts>;
  costUsd: number;
  requests: number;
  /** Calls whose outcome is unknown, and the most they can have cost. */
  unsettledCalls: number;
  unsettledMaxUsd: number;
}

/** Counts by item, by step and overall; cost and requests from the ledger. */
export function readCounts(store: StatusReadModel, stepNames?: readonly string[]): Counts {
  const byStep: Record<string, StateCounts> = {};
  for (const name of stepNames ?? []) byStep[name] = zeroCounts();
  const steps = zeroCounts();
  for (const row of store.steps.countsByStepAndState()) {
    const counts = (byStep[row.step] ??= zeroCounts());
    counts[row.state] += row.n;
    steps[row.state] += row.n;
  }
  const items = zeroCounts();
  for (const row of store.steps.itemStateCounts()) items[row.state] += row.n;
  const ledger = store.ledger.totals();
  return {
    total: store.itemCount(),
    items,
    steps,
    byStep,
    costUsd: ledger.costUsd,
    requests: ledger.requests,
    unsettledCalls: ledger.unsettledCalls,
    unsettledMaxUsd: ledger.unsettledMaxUsd,
  };
}

export interface StatusReport {
  job: string;
  state_file: string;
  total: number;
  counts: StateCounts;
  steps: Record<string, StateCounts>;
  /** Settled spend: calls whose real usage is known. */
  cost_usd: number;
  /** The most the calls whose outcome is unknown can have cost (counted by the budget at that). */
  unsettled_max_usd: number;
  unsettled_calls: number;
  /** Done items whose input row or templates changed since (redo them with run --redo-stale). */
  stale: number;
  requests: number;
  requests_by_status: Record<string, number>;
  projects: { name: string; requests: number; ok: number; rejected_429: number; errors: number; cost_usd: number }[];
  failures: { id: string; step: string; error: string; message: string; model: string; finish_reason: string }[];
  /** Step rows by the finish reason of their last reply (STOP, MAX_TOKENS, SAFETY…): every step together. */
  finish_reasons: Record<string, number>;
  /** The same, per step name, with `truncated`: done steps that kept a reply cut at max_output_tokens. */
  step_finish_reasons: Record<string, { reasons: Record<string, number>; truncated: number }>;
  /** Per check (words, judge, ...): finished outputs whose latest verdicts passed and failed it (issue 28). */
  checks: Record<string, { passed: number; failed: number }>;
  /** Per step: what its checks came to (passed, regenerated, kept, review, failed). */
  check_outcomes: Record<string, Record<string, number>>;
  /** Per step: done items by the model that produced them (a fallback, maybe), and how many the response cache served. */
  models: Record<string, { by_model: Record<string, number>; cached: number }>;
  last_run: { id: string; started_at: string; ended_at: string | null; outcome: string | null; exit_code: number | null } | null;
  /** Vertex AI batch prediction jobs, newest first (name is the local id until the job was created). */
  batches: {
    name: string;
    step: string;
    project: string;
    state: string;
    requests: number;
    succeeded: number;
    failed: number;
    created_at: string;
    /** Output lines that matched no item, and items that got no line (see docs/batch.md); with `reason` when either is not 0. */
    unmatched_lines: number;
    missing_items: number;
    /** Lines Vertex billed (the job's completionStats) whose output could not be read: booked at their worst case. */
    unreadable_lines: number;
    /** Why the job's units did not all settle from its lines (expired, cancelled, unmatched), if so. */
    reason?: string;
  }[];
}

/** The `status --json` object (product.md), read from the state file alone. */
export function buildStatus(job: Job, store: StatusReadModel, options: { maxFailures?: number; stale?: number; maxBatches?: number } = {}): StatusReport {
  const counts = readCounts(
    store,
    job.steps.map((s) => s.name),
  );
  const failures = store.steps.failures(options.maxFailures ?? 1000);
  const byStatus: Record<string, number> = {};
  for (const row of store.ledger.requestsByStatus()) byStatus[String(row.status)] = row.requests;
  const projects = store.ledger.byProject().map((p) => ({
    name: p.project,
    requests: p.requests,
    ok: p.ok,
    rejected_429: p.rejected429,
    errors: p.errors,
    cost_usd: Math.round(p.costUsd * 1e6) / 1e6,
  }));
  const models: StatusReport['models'] = {};
  for (const row of store.steps.doneByModel()) {
    const entry = (models[row.step] ??= { by_model: {}, cached: 0 });
    const model = row.model ?? job.steps.find((s) => s.name === row.step)?.model ?? 'unknown';
    entry.by_model[model] = (entry.by_model[model] ?? 0) + row.done;
    entry.cached += row.cached;
  }
  const finishReasons: Record<string, number> = {};
  const stepFinishReasons: StatusReport['step_finish_reasons'] = {};
  for (const row of store.steps.finishReasons()) {
    finishReasons[row.reason] = (finishReasons[row.reason] ?? 0) + row.n;
    const entry = (stepFinishReasons[row.step] ??= { reasons: {}, truncated: 0 });
    entry.reasons[row.reason] = row.n;
    entry.truncated += row.truncated;
  }
  const last = store.lastRun();
  return {
    job: job.name,
    state_file: store.file,
    total: counts.total,
    counts: counts.items,
    steps: counts.byStep,
    cost_usd: Math.round(counts.costUsd * 1e6) / 1e6,
    unsettled_max_usd: Math.round(counts.unsettledMaxUsd * 1e6) / 1e6,
    unsettled_calls: counts.unsettledCalls,
    stale: options.stale ?? 0,
    requests: counts.requests,
    requests_by_status: byStatus,
    projects,
    failures,
    finish_reasons: finishReasons,
    step_finish_reasons: stepFinishReasons,
    checks: store.steps.checkCounts(),
    check_outcomes: store.steps.checkOutcomes(),
    models,
    batches: store.batches.recent(options.maxBatches ?? 100).map((b) => ({
      name: b.name ?? b.id,
      step: b.step,
      project: b.project,
      state: b.settledAt === null ? b.state : `${b.state} (settled)`,
      requests: b.requests,
      succeeded: b.succeeded,
      failed: b.failed,
      created_at: b.createdAt,
      unmatched_lines: b.unmatchedLines,
      missing_items: b.missingItems,
      unreadable_lines: b.unreadableLines,
      ...(b.reason !== null ? { reason: b.reason } : {}),
    })),
    last_run: last ? { id: last.id, started_at: last.startedAt, ended_at: last.endedAt, outcome: last.outcome, exit_code: last.exitCode } : null,
  };
}
