import type { ItemCursor } from '../item-cursor.js';
import type { ItemRow, ItemUpsert } from '../rows.js';
import type { StepState } from '../step-state.js';

/** The input's rows synced into the state, and the checks of which done steps they made stale. */
export interface ItemSync {
  /** Inserts or refreshes items in one transaction and makes sure every step has a row. */
  upsertItems(items: ItemUpsert[], steps: readonly string[], runId: string, options?: { reopen?: boolean }): void;
  /** Items no longer in the input lose their unfinished work; those with a finished step are kept. */
  retireUnseenItems(runId: string): number;
  /** A step renamed in the job file: its rows and ledger calls take the new name. */
  renameStep(from: string, to: string): number;
  /** Items that may be stale, in input order after `after`, at most `limit`. */
  staleCandidates(after: ItemCursor, limit: number, everything: boolean): (ItemRow & { cursor: ItemCursor })[];
  /** Sets or clears the staleness recheck flag of items. */
  setRecheck(ids: readonly string[], recheck: boolean): void;
  /** For the given ids, those in the state: stored row hash, recheck flag, and whether a step has a request hash. */
  itemBases(ids: readonly string[]): Map<string, { inputHash: string; recheck: boolean; hashed: boolean }>;
  /** Puts chosen steps (and every later step of those items) back to pending. */
  resetSteps(itemIds: readonly string[] | 'all', fromSteps: readonly string[], states: readonly StepState[], options?: { noCache?: boolean }): number;
}
