import type { Statements } from './statements.js';

/** Calls made and their cost. */
export interface LedgerTotals {
  /** Settled spend: calls whose real usage is known. */
  costUsd: number;
  requests: number;
  /** Calls whose outcome is unknown (killed, timed out, connection lost after sending). */
  unsettledCalls: number;
  /** The most those calls can have cost: the worst case reserved for each. */
  unsettledMaxUsd: number;
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

/**
 * Calls grouped by day (UTC, YYYY-MM-DD), step ('' for calls outside a step), model and project.
 * Named as `genbatch cost` reports them (JSON and CSV columns), so they pass through unchanged.
 */
export interface LedgerCostRow {
  step: string;
  model: string;
  project: string;
  day: string;
  calls: number;
  input_tokens: number;
  /** Output and thinking tokens together. */
  output_tokens: number;
  images: number;
  video_seconds: number;
  /** Input tokens served from a context cache (part of input_tokens, priced at the cached price). */
  cached_tokens: number;
  /** Input tokens genbatch counted because the API reported none (Gemini API embeddings). */
  counted_tokens: number;
  /** 1: calls served by provisioned throughput (prepaid, $0 here), on rows of their own; 0: pay as you go. */
  provisioned: number;
  /** Settled spend. */
  cost_usd: number;
  /** Calls whose outcome is unknown, and the most they can have cost. */
  unsettled_calls: number;
  unsettled_max_usd: number;
}

/** What the finished items of a step cost per item, over every call made for each (retries included). */
export interface ItemCostStats {
  /** Items measured (0: none finished with a call). */
  items: number;
  meanUsd: number;
  /** Sample standard deviation across items; 0 with fewer than two. */
  sdUsd: number;
  /** Output and thinking tokens together, per item. */
  meanOutputTokens: number;
  meanDurationMs: number;
}

/** Reads of the call ledger for status, cost reports, estimates and notifications. Every statement is prepared once per store. */
export class LedgerQueries {
  readonly #sql: Statements;
  /** Whether the file has intent rows (schema 4); an older, read-only one has only settled calls. */
  readonly #unsettled: { calls: string; maxUsd: string };

  /** A calls-only filter: rows of steps served by the response cache (schema 6) are not calls. */
  readonly #calls: string;

  /** The billing columns (schema 8), or what an older file's rows stand for. */
  readonly #billing: { cached: string; counted: string; provisioned: string };

  constructor(statements: Statements, intentRows: boolean, cachedRows = false, billingRows = false) {
    this.#sql = statements;
    this.#billing = billingRows
      ? {
          cached: 'cached_tokens',
          counted: 'CASE WHEN counted_by_genbatch = 1 THEN input_tokens ELSE 0 END',
          provisioned: "coalesce(traffic_type = 'PROVISIONED_THROUGHPUT', 0)",
        }
      : { cached: '0', counted: '0', provisioned: '0' };
    this.#calls = cachedRows ? 'cached = 0' : '1';
    this.#unsettled = intentRows ? { calls: '(settled = 0)', maxUsd: 'CASE WHEN settled = 0 THEN reserved_usd ELSE 0 END' } : { calls: '0', maxUsd: '0' };
  }

  /** Calls and spend over every run, or over one run. */
  totals(runId?: string): LedgerTotals {
    const { calls, maxUsd } = this.#unsettled;
    const columns = `coalesce(sum(cost_usd), 0) AS cost, coalesce(sum(${this.#calls}), 0) AS n, coalesce(sum(${calls}), 0) AS unsettled, coalesce(sum(${maxUsd}), 0) AS max_usd`;
    const row = (
      runId === undefined ? this.#sql.get(`SELECT ${columns} FROM ledger`).get() : this.#sql.get(`SELECT ${columns} FROM ledger WHERE run_id = ?`).get(runId)
    ) as { cost: number; n: number; unsettled: number; max_usd: number };
    return { costUsd: row.cost, requests: row.n, unsettledCalls: row.unsettled, unsettledMaxUsd: row.max_usd };
  }

  /** Calls by HTTP status (0: no HTTP reply). */
  requestsByStatus(): { status: number; requests: number }[] {
    return (
      this.#sql.get(`SELECT http_status AS s, count(*) AS n FROM ledger WHERE ${this.#calls} GROUP BY http_status`).all() as { s: number; n: number }[]
    ).map((row) => ({
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

  /** Spend by day, step, model and project (provisioned-throughput calls on rows of their own), ordered by day, step, project. */
  costRows(): LedgerCostRow[] {
    const { calls, maxUsd } = this.#unsettled;
    const { cached, counted, provisioned } = this.#billing;
    return this.#sql
      .get(
        `SELECT coalesce(step, '') AS step, model, project, substr(at, 1, 10) AS day, count(*) AS calls, sum(input_tokens) AS input_tokens,
           sum(output_tokens + thoughts_tokens) AS output_tokens, sum(images) AS images, sum(video_seconds) AS video_seconds,
           sum(${cached}) AS cached_tokens, sum(${counted}) AS counted_tokens, ${provisioned} AS provisioned, sum(cost_usd) AS cost_usd,
           sum(${calls}) AS unsettled_calls, sum(${maxUsd}) AS unsettled_max_usd
         FROM ledger GROUP BY step, model, project, day, ${provisioned} ORDER BY day, step, project, ${provisioned}`,
      )
      .all() as LedgerCostRow[];
  }

  /**
   * What the finished items of `step` cost per item (every call made for it, retries included), over
   * the items of its latest `window` calls: their number, mean and standard deviation of the cost,
   * mean output tokens and mean call duration. Aggregated in SQL: a million finished items are not
   * read into memory, and the newest calls stand for the rest.
   */
  finishedItemCostStats(step: string, window = 20_000): ItemCostStats {
    const row = this.#sql
      .get(
        `SELECT count(*) AS n, coalesce(avg(usd), 0) AS mean, coalesce(avg(usd * usd), 0) AS mean_sq, coalesce(avg(output), 0) AS output, coalesce(avg(ms), 0) AS ms
         FROM (
           SELECT sum(l.cost_usd) AS usd, sum(l.output_tokens + l.thoughts_tokens) AS output, avg(l.duration_ms) AS ms
           FROM (SELECT item_id, cost_usd, output_tokens, thoughts_tokens, duration_ms FROM ledger WHERE step = ? AND ${this.#calls} ORDER BY id DESC LIMIT ?) l
           WHERE EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = l.item_id AND s.step = ? AND s.state IN ('done', 'filtered'))
           GROUP BY l.item_id)`,
      )
      .get(step, window, step) as { n: number; mean: number; mean_sq: number; output: number; ms: number };
    // The sample standard deviation from the sums; 0 for one item (the caller decides what one item means).
    const variance = row.n > 1 ? Math.max(0, (row.mean_sq - row.mean ** 2) * (row.n / (row.n - 1))) : 0;
    return { items: row.n, meanUsd: row.mean, sdUsd: Math.sqrt(variance), meanOutputTokens: row.output, meanDurationMs: row.ms };
  }
}
