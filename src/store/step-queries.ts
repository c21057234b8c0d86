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

  /**
   * The state of each item that has step rows, one entry per item (in no particular order): failed
   * or filtered when a step is, else running when a step is, done when every step is, else pending.
   */
  itemStates(): StepState[] {
    const rows = this.#sql
      .get(
        `SELECT CASE
           WHEN sum(state = 'failed') > 0 THEN 'failed'
           WHEN sum(state = 'filtered') > 0 THEN 'filtered'
           WHEN sum(state = 'running') > 0 THEN 'running'
           WHEN sum(state = 'done') = count(*) THEN 'done'
           ELSE 'pending' END AS state, count(*) AS n
         FROM (SELECT item_id, state FROM item_steps) GROUP BY item_id`,
      )
      .all() as { state: StepState }[];
    return rows.map((row) => row.state);
  }

  /** Failed and filtered steps in input order, at most `limit`. */
  failures(limit: number): StepFailure[] {
    return this.#sql
      .get(
        `SELECT s.item_id AS id, s.step, coalesce(s.error_code, '') AS error, coalesce(s.error_message, '') AS message
         FROM item_steps s JOIN items i ON i.id = s.item_id WHERE s.state IN ('failed', 'filtered') ORDER BY i.ord LIMIT ?`,
      )
      .all(limit) as StepFailure[];
  }

  /** Items whose `step` is finished: done or filtered. */
  finishedCount(step: string): number {
    return (this.#sql.get("SELECT count(*) AS n FROM item_steps WHERE step = ? AND state IN ('done', 'filtered')").get(step) as { n: number }).n;
  }

  /** Items whose `step` is still to do: pending or running. */
  unfinishedCount(step: string): number {
    return (this.#sql.get("SELECT count(*) AS n FROM item_steps WHERE step = ? AND state IN ('pending', 'running')").get(step) as { n: number }).n;
  }

  /** Ids of items with any step still to do (pending or running). */
  unfinishedItemIds(): string[] {
    return (this.#sql.get("SELECT DISTINCT item_id FROM item_steps WHERE state IN ('pending', 'running')").all() as { item_id: string }[]).map(
      (row) => row.item_id,
    );
  }

  /** The results of `step` where it is done, in input order (`null` when none was stored). */
  doneResults(step: string): { itemId: string; result: unknown }[] {
    const rows = this.#sql
      .get(
        "SELECT s.item_id AS id, s.result_json AS result FROM item_steps s JOIN items i ON i.id = s.item_id WHERE s.step = ? AND s.state = 'done' ORDER BY i.ord",
      )
      .all(step) as { id: string; result: string | null }[];
    return rows.map((row) => ({ itemId: row.id, result: JSON.parse(row.result ?? 'null') as unknown }));
  }
}
