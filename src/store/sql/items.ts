/** Items and their step rows: syncing the input, paging in input order, staleness checks. */

export const ADD_STEP_ROWS = `INSERT OR IGNORE INTO item_steps (item_id, step)
  SELECT i.id, s.value FROM items i, json_each(?) s WHERE i.id IN (SELECT value FROM json_each(?))`;

export const REOPEN_ITEMS = `UPDATE items SET open = 1 WHERE id IN (SELECT value FROM json_each(?)) AND open = 0
  AND EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = items.id AND s.state IN ('pending', 'running'))
  AND NOT EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = items.id AND s.state IN ('failed', 'filtered'))`;

export const RETIRE_UNSEEN_ITEMS = `DELETE FROM items WHERE (seen_run IS NULL OR seen_run <> ?) AND NOT EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = items.id AND s.state = 'done')`;

export const COUNT_ITEMS = 'SELECT count(*) AS n FROM items';

export const GET_ITEM = 'SELECT id, ord, line, row_json, input_hash FROM items WHERE id = ?';

export const PENDING_ITEMS = `SELECT i.id, i.ord, i.line, i.row_json, i.input_hash FROM items i INDEXED BY items_open
  WHERE i.open = 1 AND i.ord > ?
    AND EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.state = 'pending')
    AND NOT EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.state IN ('failed', 'filtered', 'running'))
  ORDER BY i.ord LIMIT ?`;

export const COUNT_PENDING_ITEMS = 'SELECT count(*) AS n FROM items WHERE open = 1';

export const ITEM_STEPS = 'SELECT * FROM item_steps WHERE item_id = ?';

export const ALL_ITEM_STEPS = 'SELECT s.* FROM item_steps s JOIN items i ON i.id = s.item_id ORDER BY i.ord';

export const RENAME_STEP_ROWS = 'UPDATE item_steps SET step = ? WHERE step = ?';

export const RENAME_STEP_CALLS = 'UPDATE ledger SET step = ? WHERE step = ?';

export const STALE_CANDIDATES_ALL = `SELECT i.rowid AS seq, i.id, i.ord, i.line, i.row_json, i.input_hash FROM items i
  WHERE (i.ord, i.rowid) > (?, ?) AND EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.prompt_hash IS NOT NULL)
  ORDER BY i.ord, i.rowid LIMIT ?`;

export const STALE_CANDIDATES_FLAGGED = `SELECT rowid AS seq, id, ord, line, row_json, input_hash FROM items INDEXED BY items_recheck
  WHERE recheck = 1 AND (ord, rowid) > (?, ?) ORDER BY ord, rowid LIMIT ?`;

export const SET_RECHECK = 'UPDATE items SET recheck = ? WHERE id = ? AND recheck <> ?';

export const ITEMS_PAGE = 'SELECT rowid AS seq, id, ord FROM items WHERE (ord, rowid) > (?, ?) ORDER BY ord, rowid LIMIT ?';

/** ITEMS_PAGE with each item's input row, for a results file that carries input columns. */
export const ITEMS_PAGE_WITH_ROWS = 'SELECT rowid AS seq, id, ord, row_json FROM items WHERE (ord, rowid) > (?, ?) ORDER BY ord, rowid LIMIT ?';

export const STEPS_OF_ITEMS = 'SELECT * FROM item_steps WHERE item_id IN (SELECT value FROM json_each(?))';

export const COUNT_UNFINISHED_ITEMS = "SELECT count(DISTINCT item_id) AS n FROM item_steps WHERE state IN ('pending', 'running')";

export const UNFINISHED_ITEMS = `SELECT i.id, i.row_json FROM items i
  WHERE i.id IN (SELECT item_id FROM item_steps WHERE state IN ('pending', 'running')) ORDER BY i.ord, i.rowid`;

export const UNFINISHED_ITEMS_SPREAD = `SELECT i.id, i.row_json FROM items i
  WHERE i.ord % ? = 0 AND EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.state IN ('pending', 'running'))
  ORDER BY i.ord, i.rowid LIMIT ?`;

export const ALL_ITEM_IDS = 'SELECT id FROM items';

/** Items in input order, streamed (not cached: an iterating statement is busy until the iteration ends). */
export const ITEMS_IN_ORDER = 'SELECT id, ord, line, row_json, input_hash FROM items ORDER BY ord';

/** `n` items inserted or refreshed in one statement; a changed row is flagged for the next staleness check. */
export const upsertItemsSql = (n: number): string =>
  `INSERT INTO items (id, ord, line, row_json, input_hash, seen_run) VALUES ${Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?)').join(', ')}
   ON CONFLICT (id) DO UPDATE SET ord = excluded.ord, line = excluded.line, row_json = excluded.row_json,
     input_hash = excluded.input_hash, seen_run = excluded.seen_run,
     recheck = items.recheck OR items.input_hash IS NOT excluded.input_hash`;

/** The stored basis of items for a staleness check; a file before schema 3 has no recheck flag. */
export const itemBasesSql = (hasRecheck: boolean): string =>
  `SELECT i.id, i.input_hash, ${hasRecheck ? 'i.recheck' : '0'} AS recheck,
     EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.prompt_hash IS NOT NULL) AS hashed
   FROM items i WHERE i.id IN (SELECT value FROM json_each(?))`;
