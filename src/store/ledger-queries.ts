import type { Statements } from './statements.js';

/** Calls made and their cost. */
export interface LedgerTotals {
  costUsd: number;
  requests: number;
}

/** One project's calls, as `status` reports them. */
export interface ProjectLedger {
  project: string;
  requests: number;
  /** HTTP 200 without an error. */
  ok: number;
  rejected429: number;
  /** Errors other than 429s. */
  errors: number;
  costUsd: number;
}

/** Calls grouped by day (UTC, YYYY-MM-DD), step ('' for calls outside a step), model and project. */
export interface LedgerCostRow {
  step: string;
  model: string;
  project: string;
  day: string;
  calls: number;
  inputTokens: number;
  /** Output and thinking tokens together. */
  outputTokens: number;
  images: number;
  videoSeconds: number;
  costUsd: number;
}

/** What a finished item of a step cost, over every call made for it (retries included). */
export interface ItemCallCost {
  costUsd: number;
  /** Output and thinking tokens together. */
  outputTokens: number;
  meanDurationMs: number;
}

/** Reads of the call ledger for status, cost reports, estimates and notifications. Every statement is prepared once per store. */
export class LedgerQueries {
  readonly #sql: Statements;

  constructor(statements: Statements) {
    this.#sql = statements;
  }

  /** Calls and spend over every run, or over one run. */
  totals(runId?: string): LedgerTotals {
    const row = (
      runId === undefined
        ? this.#sql.get('SELECT coalesce(sum(cost_usd), 0) AS cost, count(*) AS n FROM ledger').get()
        : this.#sql.get('SELECT coalesce(sum(cost_usd), 0) AS cost, count(*) AS n FROM ledger WHERE run_id = ?').get(runId)
    ) as { cost: number; n: number };
    return { costUsd: row.cost, requests: row.n };
  }

  /** Calls by HTTP status (0: no HTTP reply). */
  requestsByStatus(): { status: number; requests: number }[] {
    return (this.#sql.get('SELECT http_status AS s, count(*) AS n FROM ledger GROUP BY http_status').all() as { s: number; n: number }[]).map((row) => ({
      status: row.s,
      requests: row.n,
    }));
  }

  /** Calls by project, in project order. */
  byProject(): ProjectLedger[] {
    const rows = this.#sql
      .get(
        `SELECT project AS name, count(*) AS requests, sum(http_status = 200 AND error_code IS NULL) AS ok, sum(http_status = 429) AS rejected_429,
           sum(error_code IS NOT NULL AND http_status <> 429) AS errors, coalesce(sum(cost_usd), 0) AS cost_usd
         FROM ledger GROUP BY project ORDER BY project`,
      )
      .all() as { name: string; requests: number; ok: number; rejected_429: number; errors: number; cost_usd: number }[];
    return rows.map((r) => ({ project: r.name, requests: r.requests, ok: r.ok, rejected429: r.rejected_429, errors: r.errors, costUsd: r.cost_usd }));
  }

  /** Spend by day, step, model and project, ordered by day, step, project. */
  costRows(): LedgerCostRow[] {
    const rows = this.#sql
      .get(
        `SELECT coalesce(step, '') AS step, model, project, substr(at, 1, 10) AS day, count(*) AS calls, sum(input_tokens) AS input_tokens,
           sum(output_tokens + thoughts_tokens) AS output_tokens, sum(images) AS images, sum(video_seconds) AS video_seconds, sum(cost_usd) AS cost_usd
         FROM ledger GROUP BY step, model, project, day ORDER BY day, step, project`,
      )
      .all() as {
      step: string;
      model: string;
      project: string;
      day: string;
      calls: number;
      input_tokens: number;
      output_tokens: number;
      images: number;
      video_seconds: number;
      cost_usd: number;
    }[];
    return rows.map((r) => ({
      step: r.step,
      model: r.model,
      project: r.project,
      day: r.day,
      calls: r.calls,
      inputTokens: r.input_tokens,
      outputTokens: r.output_tokens,
      images: r.images,
      videoSeconds: r.video_seconds,
      costUsd: r.cost_usd,
    }));
  }

  /** Per item whose `step` is done or filtered: the calls made for that step (one entry per item with calls, in no particular order). */
  finishedItemCosts(step: string): ItemCallCost[] {
    const rows = this.#sql
      .get(
        `SELECT sum(cost_usd) AS usd, sum(output_tokens + thoughts_tokens) AS output, avg(duration_ms) AS ms FROM ledger
         WHERE step = ? AND item_id IN (SELECT item_id FROM item_steps WHERE step = ? AND state IN ('done', 'filtered')) GROUP BY item_id`,
      )
      .all(step, step) as { usd: number; output: number; ms: number }[];
    return rows.map((r) => ({ costUsd: r.usd, outputTokens: r.output, meanDurationMs: r.ms }));
  }
}
