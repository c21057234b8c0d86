import type { ItemCursor } from './item-cursor.js';
import type { Statements } from './statements.js';
import type { StepState } from './step-state.js';

/** A failed or filtered step, as `status` lists it. */
export interface StepFailure {
  id: string;
  step: string;
  /** The error code, '' when none was recorded. */
  error: string;
  /** The error message, '' when none was recorded. */
  message: string;
  /** The model of the failed call ('' when none was made, or the state file predates fallback models). */
  model: string;
  /** The finish reason of the step's last reply ('' when none came, or the state file predates finish reasons). */
  finish_reason: string;
}

/**
 * Reads of the per-item step state (`item_steps`) for status, estimates and output files. Every
 * statement is prepared once per store.
 */
export class StepQueries {
  readonly #sql: Statements;

  constructor(statements: Statements) {
    this.#sql = statements;
  }

  /** Step rows counted by step and state (only the pairs that occur). */
  countsByStepAndState(): { step: string; state: StepState; n: number }[] {
    return this.#sql.get('SELECT step, state, count(*) AS n FROM item_steps GROUP BY step, state').all() as { step: string; state: StepState; n: number }[];
  }

  /** Per step name in the state: its finished (done or filtered) items and what they cost. */
  finishedByStep(): { step: string; items: number; costUsd: number }[] {
    return this.#sql
      .get(
        `SELECT step, sum(state IN ('done', 'filtered')) AS items, coalesce(sum(CASE WHEN state IN ('done', 'filtered') THEN cost_usd END), 0) AS cost
         FROM item_steps GROUP BY step`,
      )
      .all()
      .map((row) => {
        const r = row as { step: string; items: number; cost: number };
        return { step: r.step, items: r.items, costUsd: r.cost };
      });
  }

  /**
   * Items counted by item state (only the states that occur): failed or filtered when a step is,
   * else running when a step is, done when every step is, else pending. From the partial indexes of
   * schema 3 and the items' `open` flag, so a million finished items are not visited: done items are
   * the rest (every item has its step rows, inserted with it).
   */
  itemStateCounts(): { state: StepState; n: number }[] {
    const version = this.#sql.get('PRAGMA user_version').pluck().get() as number;
    // A read-only store over an older file (status) has neither the flag nor the indexes.
    if (version < 3) return this.#groupedItemStateCounts();
    const row = this.#sql
      .get(
        `SELECT
           (SELECT count(*) FROM items) AS total,
           (SELECT count(*) FROM items WHERE open = 1) AS open,
           (SELECT count(DISTINCT item_id) FROM item_steps WHERE state IN ('failed', 'filtered') AND state = 'failed') AS failed,
           (SELECT count(DISTINCT s.item_id) FROM item_steps s WHERE s.state IN ('failed', 'filtered') AND s.state = 'filtered'
              AND NOT EXISTS (SELECT 1 FROM item_steps t WHERE t.item_id = s.item_id AND t.state = 'failed')) AS filtered,
           (SELECT count(DISTINCT s.item_id) FROM item_steps s WHERE s.state = 'running'
              AND NOT EXISTS (SELECT 1 FROM item_steps t WHERE t.item_id = s.item_id AND t.state IN ('failed', 'filtered'))) AS running`,
      )
      .get() as { total: number; open: number; failed: number; filtered: number; running: number };
    const counts: Record<StepState, number> = {
      failed: row.failed,
      filtered: row.filtered,
      running: row.running,
      // Open items have a pending or running step and no failed or filtered one.
      pending: row.open - row.running,
      done: row.total - row.open - row.failed - row.filtered,
    };
    return (Object.entries(counts) as [StepState, number][]).filter(([, n]) => n > 0).map(([state, n]) => ({ state, n }));
  }

  /** itemStateCounts by grouping every step row by item (schema before 3). */
  #groupedItemStateCounts(): { state: StepState; n: number }[] {
    return this.#sql
      .get(
        `SELECT state, count(*) AS n FROM (
           SELECT CASE
             WHEN sum(state = 'failed') > 0 THEN 'failed'
             WHEN sum(state = 'filtered') > 0 THEN 'filtered'
             WHEN sum(state = 'running') > 0 THEN 'running'
             WHEN sum(state = 'done') = count(*) THEN 'done'
             ELSE 'pending' END AS state
           FROM item_steps GROUP BY item_id)
         GROUP BY state`,
      )
      .all() as { state: StepState; n: number }[];
  }

  /** Whether the file records the model and cache use of each step (schema 6); a read-only older one does not. */
  #hasModels(): boolean {
    return (this.#sql.get('PRAGMA user_version').pluck().get() as number) >= 6;
  }

  /** Whether the file records finish reasons (schema 7); a read-only older one does not. */
  #hasFinishReasons(): boolean {
    return (this.#sql.get('PRAGMA user_version').pluck().get() as number) >= 7;
  }

  /** Step rows by step and finish reason (only rows with one), and how many of them kept a cut reply. */
  finishReasons(): { step: string; reason: string; n: number; truncated: number }[] {
    if (!this.#hasFinishReasons()) return [];
    return this.#sql
      .get(
        `SELECT step, finish_reason AS reason, count(*) AS n, sum(truncated) AS truncated FROM item_steps
         WHERE finish_reason IS NOT NULL GROUP BY step, finish_reason ORDER BY step, finish_reason`,
      )
      .all() as { step: string; reason: string; n: number; truncated: number }[];
  }

  /** Failed and filtered steps in input order, at most `limit`. */
  failures(limit: number): StepFailure[] {
    const model = this.#hasModels() ? "coalesce(s.model, '')" : "''";
    const reason = this.#hasFinishReasons() ? "coalesce(s.finish_reason, '')" : "''";
    return this.#sql
      .get(
        `SELECT s.item_id AS id, s.step, coalesce(s.error_code, '') AS error, coalesce(s.error_message, '') AS message, ${model} AS model,
           ${reason} AS finish_reason
         FROM item_steps s JOIN items i ON i.id = s.item_id WHERE s.state IN ('failed', 'filtered') ORDER BY i.ord LIMIT ?`,
      )
      .all(limit) as StepFailure[];
  }

  /** Done steps by step and the model that produced them, and how many came from the response cache. */
  doneByModel(): { step: string; model: string | null; done: number; cached: number }[] {
    if (!this.#hasModels()) return [];
    return this.#sql
      .get(`SELECT step, model, count(*) AS done, sum(cached) AS cached FROM item_steps WHERE state = 'done' GROUP BY step, model ORDER BY step, model`)
      .all() as { step: string; model: string | null; done: number; cached: number }[];
  }

  /** Items whose `step` is finished: done or filtered. */
  finishedCount(step: string): number {
    return (this.#sql.get("SELECT count(*) AS n FROM item_steps WHERE step = ? AND state IN ('done', 'filtered')").get(step) as { n: number }).n;
  }

  /** Items whose `step` is still to do: pending or running. */
  unfinishedCount(step: string): number {
    return (this.#sql.get("SELECT count(*) AS n FROM item_steps WHERE step = ? AND state IN ('pending', 'running')").get(step) as { n: number }).n;
  }

  /** Items with any step still to do (pending or running). */
  unfinishedItemCount(): number {
    return (this.#sql.get("SELECT count(DISTINCT item_id) AS n FROM item_steps WHERE state IN ('pending', 'running')").get() as { n: number }).n;
  }

  /**
   * The results of `step` where it is done, in input order after `after`, at most `limit` (`null`
   * when none was stored): a page, so that a million vectors are never in memory at once.
   */
  doneResults(step: string, after: ItemCursor, limit: number): { itemId: string; result: unknown; cursor: ItemCursor }[] {
    const rows = this.#sql
      .get(
        `SELECT s.item_id AS id, s.result_json AS result, i.ord, i.rowid AS seq FROM items i JOIN item_steps s ON s.item_id = i.id AND s.step = ?
         WHERE s.state = 'done' AND (i.ord, i.rowid) > (?, ?) ORDER BY i.ord, i.rowid LIMIT ?`,
      )
      .all(step, after.ord, after.seq, limit) as { id: string; result: string | null; ord: number; seq: number }[];
    return rows.map((row) => ({ itemId: row.id, result: JSON.parse(row.result ?? 'null') as unknown, cursor: { ord: row.ord, seq: row.seq } }));
  }
}
