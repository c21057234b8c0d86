/** Reads for `status`, `cost`, estimates and output files: counts and sums, never a row per item in memory. */

/** Calls and spend by project: context-cache storage rows (schema 13) are spend there, not calls. */
export const callsByProjectSql = (c: LedgerColumns): string => {
  const call = `(NOT ${c.storage.flag})`;
  return `SELECT project AS name, sum(${call}) AS requests, sum(${call} AND http_status = 200 AND error_code IS NULL) AS ok, sum(${call} AND http_status = 429) AS rejected_429,
    sum(${call} AND error_code IS NOT NULL AND http_status <> 429) AS errors, coalesce(sum(cost_usd), 0) AS cost_usd
  FROM ledger GROUP BY project ORDER BY project`;
};

export const STEP_STATE_COUNTS = 'SELECT step, state, count(*) AS n FROM item_steps GROUP BY step, state';

export const FINISHED_BY_STEP = `SELECT step, sum(state IN ('done', 'filtered')) AS items, coalesce(sum(CASE WHEN state IN ('done', 'filtered') THEN cost_usd END), 0) AS cost
  FROM item_steps GROUP BY step`;

export const SCHEMA_VERSION = 'PRAGMA user_version';

export const ITEM_STATE_COUNTS = `SELECT
  (SELECT count(*) FROM items) AS total,
  (SELECT count(*) FROM items WHERE open = 1) AS open,
  (SELECT count(DISTINCT item_id) FROM item_steps WHERE state IN ('failed', 'filtered') AND state = 'failed') AS failed,
  (SELECT count(DISTINCT s.item_id) FROM item_steps s WHERE s.state IN ('failed', 'filtered') AND s.state = 'filtered'
     AND NOT EXISTS (SELECT 1 FROM item_steps t WHERE t.item_id = s.item_id AND t.state = 'failed')) AS filtered,
  (SELECT count(DISTINCT s.item_id) FROM item_steps s WHERE s.state = 'running'
     AND NOT EXISTS (SELECT 1 FROM item_steps t WHERE t.item_id = s.item_id AND t.state IN ('failed', 'filtered'))) AS running`;

export const ITEM_STATE_COUNTS_GROUPED = `SELECT state, count(*) AS n FROM (
    SELECT CASE
      WHEN sum(state = 'failed') > 0 THEN 'failed'
      WHEN sum(state = 'filtered') > 0 THEN 'filtered'
      WHEN sum(state = 'running') > 0 THEN 'running'
      WHEN sum(state = 'done') = count(*) THEN 'done'
      ELSE 'pending' END AS state
    FROM item_steps GROUP BY item_id)
  GROUP BY state`;

export const FINISH_REASONS = `SELECT step, finish_reason AS reason, count(*) AS n, sum(truncated) AS truncated FROM item_steps
  WHERE finish_reason IS NOT NULL GROUP BY step, finish_reason ORDER BY step, finish_reason`;

export const DONE_BY_MODEL = `SELECT step, model, count(*) AS done, sum(cached) AS cached FROM item_steps WHERE state = 'done' GROUP BY step, model ORDER BY step, model`;

export const FINISHED_COUNT = "SELECT count(*) AS n FROM item_steps WHERE step = ? AND state IN ('done', 'filtered')";

export const UNFINISHED_COUNT = "SELECT count(*) AS n FROM item_steps WHERE step = ? AND state IN ('pending', 'running')";

/** Steps left to do on the first ? items a run will take (open: no failed or filtered step; -1: all), per step: what a run's progress counts to. */
export const OPEN_UNFINISHED_BY_STEP = `SELECT s.step, count(*) AS n
  FROM (SELECT id FROM items INDEXED BY items_open WHERE open = 1 ORDER BY ord LIMIT ?) i JOIN item_steps s ON s.item_id = i.id
  WHERE s.state IN ('pending', 'running') GROUP BY s.step`;

export const UNFINISHED_ITEM_COUNT = "SELECT count(DISTINCT item_id) AS n FROM item_steps WHERE state IN ('pending', 'running')";

export const DONE_RESULTS = `SELECT s.item_id AS id, s.result_json AS result, i.ord, i.rowid AS seq FROM items i JOIN item_steps s ON s.item_id = i.id AND s.step = ?
  WHERE s.state = 'done' AND (i.ord, i.rowid) > (?, ?) ORDER BY i.ord, i.rowid LIMIT ?`;

/** Failed and filtered steps in input order; a file before schema 6 (models) or 7 (finish reasons) reads '' for them. */
export const failuresSql = (hasModels: boolean, hasFinishReasons: boolean): string =>
  `SELECT s.item_id AS id, s.step, coalesce(s.error_code, '') AS error, coalesce(s.error_message, '') AS message,
     ${hasModels ? "coalesce(s.model, '')" : "''"} AS model, ${hasFinishReasons ? "coalesce(s.finish_reason, '')" : "''"} AS finish_reason
   FROM item_steps s JOIN items i ON i.id = s.item_id WHERE s.state IN ('failed', 'filtered') ORDER BY i.ord LIMIT ?`;

/** The ledger's columns as a file of a given schema has them (an older, read-only file lacks the later ones). */
export interface LedgerColumns {
  /** Unsettled calls, and the most they can cost (intent rows, schema 4). */
  unsettled: { calls: string; maxUsd: string };
  /** A calls-only filter: rows of steps served by the response cache (schema 6) are not calls. */
  calls: string;
  /** The billing columns (schema 8), or what an older file's rows stand for. */
  billing: { cached: string; counted: string; provisioned: string };
  /** Context-cache storage rows (schema 13): their flag and token-hours. */
  storage: { flag: string; tokenHours: string };
}

export function ledgerColumns(intentRows: boolean, cachedRows: boolean, billingRows: boolean, storageRows = false): LedgerColumns {
  return {
    unsettled: intentRows ? { calls: '(settled = 0)', maxUsd: 'CASE WHEN settled = 0 THEN reserved_usd ELSE 0 END' } : { calls: '0', maxUsd: '0' },
    // Rows of context-cache storage (schema 13) are spend but not calls.
    calls: cachedRows ? (storageRows ? '(cached = 0 AND context_cache IS NULL)' : 'cached = 0') : '1',
    storage: storageRows ? { flag: '(context_cache IS NOT NULL)', tokenHours: 'cache_token_hours' } : { flag: '0', tokenHours: '0' },
    billing: billingRows
      ? {
          cached: 'cached_tokens',
          counted: 'CASE WHEN counted_by_genbatch = 1 THEN input_tokens ELSE 0 END',
          provisioned: "coalesce(traffic_type = 'PROVISIONED_THROUGHPUT', 0)",
        }
      : { cached: '0', counted: '0', provisioned: '0' },
  };
}

/** Calls and spend over every run, or (`byRun`) over the run bound. */
export const ledgerTotalsSql = (c: LedgerColumns, byRun: boolean): string =>
  `SELECT coalesce(sum(cost_usd), 0) AS cost, coalesce(sum(${c.calls}), 0) AS n, coalesce(sum(${c.unsettled.calls}), 0) AS unsettled,
     coalesce(sum(${c.unsettled.maxUsd}), 0) AS max_usd
   FROM ledger${byRun ? ' WHERE run_id = ?' : ''}`;

export const requestsByStatusSql = (c: LedgerColumns): string => `SELECT http_status AS s, count(*) AS n FROM ledger WHERE ${c.calls} GROUP BY http_status`;

/** Spend by day, step, model and project, provisioned-throughput calls on rows of their own (`genbatch cost`). */
export const costRowsSql = (c: LedgerColumns): string => {
  const { cached, counted, provisioned } = c.billing;
  const { flag, tokenHours } = c.storage;
  return `SELECT coalesce(step, '') AS step, model, project, substr(at, 1, 10) AS day, CASE WHEN ${flag} THEN 0 ELSE count(*) END AS calls, sum(input_tokens) AS input_tokens,
     sum(output_tokens + thoughts_tokens) AS output_tokens, sum(images) AS images, sum(video_seconds) AS video_seconds,
     sum(${cached}) AS cached_tokens, sum(${counted}) AS counted_tokens, ${provisioned} AS provisioned, sum(${tokenHours}) AS cache_token_hours, ${flag} AS storage,
     sum(cost_usd) AS cost_usd, sum(${c.unsettled.calls}) AS unsettled_calls, sum(${c.unsettled.maxUsd}) AS unsettled_max_usd
   FROM ledger GROUP BY step, model, project, day, ${provisioned}, ${flag} ORDER BY day, step, project, ${provisioned}, ${flag}`;
};

/**
 * What the finished items of a step cost per item, over the items of its latest calls, its judges'
 * calls (`<step>.judge`) and regenerations included; output tokens of the step's own calls
 * (bound: step, step, judge step, window, step).
 */
export const finishedItemCostStatsSql = (c: LedgerColumns): string =>
  `SELECT count(*) AS n, coalesce(avg(usd), 0) AS mean, coalesce(avg(usd * usd), 0) AS mean_sq, coalesce(avg(output), 0) AS output, coalesce(avg(ms), 0) AS ms
   FROM (
     SELECT sum(l.cost_usd) AS usd, sum(CASE WHEN l.own THEN l.output_tokens + l.thoughts_tokens ELSE 0 END) AS output, avg(l.duration_ms) AS ms
     FROM (SELECT item_id, cost_usd, output_tokens, thoughts_tokens, duration_ms, step = ? AS own FROM ledger WHERE step IN (?, ?) AND ${c.calls}
       ORDER BY id DESC LIMIT ?) l
     WHERE EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = l.item_id AND s.step = ? AND s.state IN ('done', 'filtered'))
     GROUP BY l.item_id)`;
