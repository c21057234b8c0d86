import {
  callsByProjectSql,
  costRowsSql,
  finishedItemCostStatsSql,
  ledgerColumns,
  ledgerTotalsSql,
  requestsByStatusSql,
  type LedgerColumns,
} from './sql/read-models.js';
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
  /** Context-cache storage booked on this row (rows of storage only, `storage` 1; negative: corrected down at delete). */
  cache_token_hours: number;
  /** 1: a row of context-cache storage (not calls); 0: calls. */
  storage: number;
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
  /** The ledger's columns as this file has them: intent rows (schema 4), cache rows (6), billing detail (8). */
  readonly #columns: LedgerColumns;

  constructor(statements: Statements, intentRows: boolean, cachedRows = false, billingRows = false, storageRows = false) {
    this.#sql = statements;
    this.#columns = ledgerColumns(intentRows, cachedRows, billingRows, storageRows);
  }

  /** Calls and spend over every run, or over one run. */
  totals(runId?: string): LedgerTotals {
    const row = (
      runId === undefined ? this.#sql.get(ledgerTotalsSql(this.#columns, false)).get() : this.#sql.get(ledgerTotalsSql(this.#columns, true)).get(runId)
    ) as { cost: number; n: number; unsettled: number; max_usd: number };
    return { costUsd: row.cost, requests: row.n, unsettledCalls: row.unsettled, unsettledMaxUsd: row.max_usd };
  }

  /** Calls by HTTP status (0: no HTTP reply). */
  requestsByStatus(): { status: number; requests: number }[] {
    return (this.#sql.get(requestsByStatusSql(this.#columns)).all() as { s: number; n: number }[]).map((row) => ({
      status: row.s,
      requests: row.n,
    }));
  }

  /** Calls by project, in project order. */
  byProject(): ProjectLedger[] {
    const rows = this.#sql.get(callsByProjectSql(this.#columns)).all() as {
      name: string;
      requests: number;
      ok: number;
      rejected_429: number;
      errors: number;
      cost_usd: number;
    }[];
    return rows.map((r) => ({ project: r.name, requests: r.requests, ok: r.ok, rejected429: r.rejected_429, errors: r.errors, costUsd: r.cost_usd }));
  }

  /** Spend by day, step, model and project (provisioned-throughput calls on rows of their own), ordered by day, step, project. */
  costRows(): LedgerCostRow[] {
    return this.#sql.get(costRowsSql(this.#columns)).all() as LedgerCostRow[];
  }

  /**
   * What the finished items of `step` cost per item (every call made for it, retries included), over
   * the items of its latest `window` calls: their number, mean and standard deviation of the cost,
   * mean output tokens and mean call duration. Aggregated in SQL: a million finished items are not
   * read into memory, and the newest calls stand for the rest.
   */
  finishedItemCostStats(step: string, window = 20_000): ItemCostStats {
    const row = this.#sql.get(finishedItemCostStatsSql(this.#columns)).get(step, step, `${step}.judge`, window, step) as {
      n: number;
      mean: number;
      mean_sq: number;
      output: number;
      ms: number;
    };
    // The sample standard deviation from the sums; 0 for one item (the caller decides what one item means).
    const variance = row.n > 1 ? Math.max(0, (row.mean_sq - row.mean ** 2) * (row.n / (row.n - 1))) : 0;
    return { items: row.n, meanUsd: row.mean, sdUsd: Math.sqrt(variance), meanOutputTokens: row.output, meanDurationMs: row.ms };
  }
}
