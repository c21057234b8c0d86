/**
 * A position in input order: `ord`, then the row's insertion order (`seq`) for items that share an
 * ord (a finished item dropped from the input keeps its old one). Pages of items resume after it, so
 * no page query holds a statement open between pages (other writes may run in between).
 */
export interface ItemCursor {
  ord: number;
  seq: number;
}

/** Before the first item. */
export const FIRST_ITEM: ItemCursor = { ord: -1, seq: -1 };
