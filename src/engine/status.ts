import type { Job } from '../job/job.js';
import type { StateStore, StepState } from '../store/state-store.js';

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
}

/** Counts by item, by step and overall; cost and requests from the ledger. */
export function readCounts(store: StateStore, stepNames?: readonly string[]): Counts {
  const byStep: Record<string, StateCounts> = {};
  for (const name of stepNames ?? []) byStep[name] = zeroCounts();
  const steps = zeroCounts();
  for (const row of store.db.prepare('SELECT step, state, count(*) AS n FROM item_steps GROUP BY step, state').all() as { step: string; state: StepState; n: number }[]) {
    const counts = (byStep[row.step] ??= zeroCounts());
    counts[row.state] += row.n;
    steps[row.state] += row.n;
  }
  const items = zeroCounts();
  const perItem = store.db
    .prepare(
      `SELECT CASE
         WHEN sum(state = 'failed') > 0 THEN 'failed'
         WHEN sum(state = 'filtered') > 0 THEN 'filtered'
         WHEN sum(state = 'running') > 0 THEN 'running'
         WHEN sum(state = 'done') = count(*) THEN 'done'
         ELSE 'pending' END AS state, count(*) AS n
       FROM (SELECT item_id, state FROM item_steps) GROUP BY item_id`,
    )
    .all() as { state: StepState }[];
  for (const row of perItem) items[row.state] += 1;
  const ledger = store.db.prepare('SELECT coalesce(sum(cost_usd), 0) AS cost, count(*) AS n FROM ledger').get() as { cost: number; n: number };
  return { total: store.itemCount(), items, steps, byStep, costUsd: ledger.cost, requests: ledger.n };
}

export interface StatusReport {
  job: string;
  state_file: string;
  total: number;
  counts: StateCounts;
  steps: Record<string, StateCounts>;
  cost_usd: number;
  /** Done items whose input row or templates changed since (redo them with run --redo-stale). */
  stale: number;
  requests: number;
  requests_by_status: Record<string, number>;
  projects: { name: string; requests: number; ok: number; rejected_429: number; errors: number; cost_usd: number }[];
  failures: { id: string; step: string; error: string; message: string }[];
  last_run: { id: string; started_at: string; ended_at: string | null; outcome: string | null; exit_code: number | null } | null;
}

/** The `status --json` object (product.md), read from the state file alone. */
export function buildStatus(job: Job, store: StateStore, options: { maxFailures?: number; stale?: number } = {}): StatusReport {
  const counts = readCounts(store, job.steps.map((s) => s.name));
  const failures = store.db
    .prepare(
      `SELECT s.item_id AS id, s.step, coalesce(s.error_code, '') AS error, coalesce(s.error_message, '') AS message
       FROM item_steps s JOIN items i ON i.id = s.item_id WHERE s.state IN ('failed', 'filtered') ORDER BY i.ord LIMIT ?`,
    )
    .all(options.maxFailures ?? 1000) as StatusReport['failures'];
  const byStatus: Record<string, number> = {};
  for (const row of store.db.prepare('SELECT http_status AS s, count(*) AS n FROM ledger GROUP BY http_status').all() as { s: number; n: number }[]) {
    byStatus[String(row.s)] = row.n;
  }
  const projects = (
    store.db
      .prepare(
        `SELECT project AS name, count(*) AS requests, sum(http_status = 200 AND error_code IS NULL) AS ok, sum(http_status = 429) AS rejected_429,
           sum(error_code IS NOT NULL AND http_status <> 429) AS errors, coalesce(sum(cost_usd), 0) AS cost_usd
         FROM ledger GROUP BY project ORDER BY project`,
      )
      .all() as StatusReport['projects']
  ).map((p) => ({ ...p, cost_usd: Math.round(p.cost_usd * 1e6) / 1e6 }));
  const last = store.lastRun();
  return {
    job: job.name,
    state_file: store.file,
    total: counts.total,
    counts: counts.items,
    steps: counts.byStep,
    cost_usd: Math.round(counts.costUsd * 1e6) / 1e6,
    stale: options.stale ?? 0,
    requests: counts.requests,
    requests_by_status: byStatus,
    projects,
    failures,
    last_run: last ? { id: last.id, started_at: last.startedAt, ended_at: last.endedAt, outcome: last.outcome, exit_code: last.exitCode } : null,
  };
}
