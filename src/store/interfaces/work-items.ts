import type { ItemRow, ItemStepRow } from '../rows.js';

/** The items and their steps as the scheduler pages them and the executors read them. */
export interface WorkItems {
  getItem(id: string): ItemRow | undefined;
  itemSteps(itemId: string): ItemStepRow[];
  /** Items with work left, in input order after `afterOrd`, at most `limit`. */
  pendingItems(afterOrd: number, limit: number): ItemRow[];
  /** Items with a pending or running step and no failed or filtered one. */
  pendingItemCount(): number;
  itemCount(): number;
  /** False once the store is closed. */
  readonly isOpen: boolean;
}
