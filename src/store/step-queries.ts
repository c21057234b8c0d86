import {
  DONE_BY_MODEL,
  DONE_RESULTS,
  FINISHED_BY_STEP,
  FINISHED_COUNT,
  FINISH_REASONS,
  ITEM_STATE_COUNTS,
  ITEM_STATE_COUNTS_GROUPED,
  SCHEMA_VERSION,
  STEP_STATE_COUNTS,
  failuresSql,
  UNFINISHED_COUNT,
  OPEN_UNFINISHED_BY_STEP,
  UNFINISHED_ITEM_COUNT,
} from './sql/read-models.js';
import { CHECK_COUNTS, CHECK_OUTCOMES } from './sql/checks.js';
import type { CheckOutcome } from './rows.js';
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
    return this.#sql.get(STEP_STATE_COUNTS).all() as { step: string; state: StepState; n: number }[];
  }

  /** Per step name in the state: its finished (done or filtered) items and what they cost. */
  finishedByStep(): { step: string; items: number; costUsd: number }[] {
    return this.#sql
      .get(FINISHED_BY_STEP)
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
    const version = this.#sql.get(SCHEMA_VERSION).pluck().get() as number;
    // A read-only store over an older file (status) has neither the flag nor the indexes.
    if (version < 3) return this.#groupedItemStateCounts();
    const row = this.#sql.get(ITEM_STATE_COUNTS).get() as { total: number; open: number; failed: number; filtered: number; running: number };
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
    return this.#sql.get(ITEM_STATE_COUNTS_GROUPED).all() as { state: StepState; n: number }[];
  }

  /** Whether the file records the model and cache use of each step (schema 6); a read-only older one does not. */
  #hasModels(): boolean {
    return (this.#sql.get(SCHEMA_VERSION).pluck().get() as number) >= 6;
  }

  /** Whether the file records finish reasons (schema 7); a read-only older one does not. */
  #hasFinishReasons(): boolean {
    return (this.#sql.get(SCHEMA_VERSION).pluck().get() as number) >= 7;
  }

  /** Step rows by step and finish reason (only rows with one), and how many of them kept a cut reply. */
  finishReasons(): { step: string; reason: string; n: number; truncated: number }[] {
    if (!this.#hasFinishReasons()) return [];
    return this.#sql.get(FINISH_REASONS).all() as { step: string; reason: string; n: number; truncated: number }[];
  }

  /** `status --json` checks: per check, finished outputs whose latest verdicts passed and failed it (schema 12). */
  checkCounts(): Record<string, { passed: number; failed: number }> {
    if ((this.#sql.get(SCHEMA_VERSION).pluck().get() as number) < 12) return {};
    const rows = this.#sql.get(CHECK_COUNTS).all() as { name: string; passed: number; failed: number }[];
    return Object.fromEntries(rows.map((r) => [r.name, { passed: r.passed, failed: r.failed }]));
  }

  /** What the checks came to, per step and outcome (passed, regenerated, kept, review, failed). */
  checkOutcomes(): Record<string, Partial<Record<CheckOutcome, number>>> {
    if ((this.#sql.get(SCHEMA_VERSION).pluck().get() as number) < 12) return {};
    const out: Record<string, Partial<Record<CheckOutcome, number>>> = {};
    for (const r of this.#sql.get(CHECK_OUTCOMES).all() as { step: string; outcome: CheckOutcome; n: number }[]) (out[r.step] ??= {})[r.outcome] = r.n;
    return out;
  }

  /** Failed and filtered steps in input order, at most `limit`. */
  failures(limit: number): StepFailure[] {
    return this.#sql.get(failuresSql(this.#hasModels(), this.#hasFinishReasons())).all(limit) as StepFailure[];
  }

  /** Done steps by step and the model that produced them, and how many came from the response cache. */
  doneByModel(): { step: string; model: string | null; done: number; cached: number }[] {
    if (!this.#hasModels()) return [];
    return this.#sql.get(DONE_BY_MODEL).all() as { step: string; model: string | null; done: number; cached: number }[];
  }

  /** Items whose `step` is finished: done or filtered. */
  finishedCount(step: string): number {
    return (this.#sql.get(FINISHED_COUNT).get(step) as { n: number }).n;
  }

  /** Items whose `step` is still to do: pending or running. */
  unfinishedCount(step: string): number {
    return (this.#sql.get(UNFINISHED_COUNT).get(step) as { n: number }).n;
  }

  /** Steps still to do on the items a run will take (those with no failed or filtered step; with `limit`, the first N), per step name. */
  openUnfinishedByStep(limit?: number): Record<string, number> {
    const rows = this.#sql.get(OPEN_UNFINISHED_BY_STEP).all(limit ?? -1) as { step: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.step, r.n]));
  }

  /** Items with any step still to do (pending or running). */
  unfinishedItemCount(): number {
    return (this.#sql.get(UNFINISHED_ITEM_COUNT).get() as { n: number }).n;
  }

  /**
   * The results of `step` where it is done, in input order after `after`, at most `limit` (`null`
   * when none was stored): a page, so that a million vectors are never in memory at once.
   */
  doneResults(step: string, after: ItemCursor, limit: number): { itemId: string; result: unknown; cursor: ItemCursor }[] {
    const rows = this.#sql.get(DONE_RESULTS).all(step, after.ord, after.seq, limit) as { id: string; result: string | null; ord: number; seq: number }[];
    return rows.map((row) => ({ itemId: row.id, result: JSON.parse(row.result ?? 'null') as unknown, cursor: { ord: row.ord, seq: row.seq } }));
  }
}
