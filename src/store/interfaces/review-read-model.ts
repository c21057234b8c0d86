import type { ItemRow, ItemStepRow, ReplacedOutput } from '../rows.js';

/** What a reviewer reads (`genbatch review`, the library's JobState) and the marks a reviewer writes. */
export interface ReviewReadModel {
  getItem(id: string): ItemRow | undefined;
  itemSteps(itemId: string): ItemStepRow[];
  allItemSteps(): ItemStepRow[];
  /** Items in input order, streamed. */
  iterateItems(): Generator<ItemRow>;
  /** Rejected steps, in input order. */
  rejectedSteps(): { itemId: string; step: string; note: string | null; at: string }[];
  /** Ids of items with a rejected step, in input order. */
  rejectedItemIds(): string[];
  /** The done steps `retry --rejected` would redo (each rejected step and every later one). */
  doneStepsToRedo(stepOrder: readonly string[]): ItemStepRow[];
  /** Outputs replaced by a regenerate that the reviewer has not chosen between yet, in input order. */
  undecidedReplaced(): ReplacedOutput[];
  /** Every replaced output of an item, decided or not. */
  replacedOfItem(itemId: string): ReplacedOutput[];
}

/** A reviewer's marks: rejections, and `retry --rejected`. */
export interface ReviewMarks {
  /** Marks the done steps of items (among `steps`) as rejected; returns the rows marked. */
  rejectSteps(itemIds: readonly string[], steps: readonly string[], note: string | null): number;
  /** Removes rejection marks (of these items, or all). */
  clearRejection(itemIds?: readonly string[]): number;
  /**
   * Puts each rejected step and every later one back to pending (their draw moves on); `kept`: the done
   * steps whose outputs were copied aside for the reviewer's before/after. Returns the steps reset.
   */
  retryRejected(stepOrder: readonly string[], kept?: readonly { itemId: string; step: string; keptDir: string }[]): number;
  /** The reviewer's choice for an item's undecided replaced outputs: `new` keeps the regenerated ones, `old` restores the replaced results. */
  decideReplaced(itemId: string, decision: 'new' | 'old'): ReplacedOutput[];
}
