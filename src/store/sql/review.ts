import { placeholders } from './steps.js';

/** A reviewer's marks: rejections, and `retry --rejected`. */

export const REJECTED_STEPS = `SELECT s.item_id AS itemId, s.step, s.rejected_note AS note, s.rejected_at AS at
  FROM item_steps s JOIN items i ON i.id = s.item_id WHERE s.rejected_at IS NOT NULL ORDER BY i.ord, s.step`;

export const REJECTED_ITEM_IDS =
  'SELECT i.id FROM items i WHERE EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.rejected_at IS NOT NULL) ORDER BY i.ord';

export const CLEAR_ALL_REJECTIONS = 'UPDATE item_steps SET rejected_at = NULL, rejected_note = NULL WHERE rejected_at IS NOT NULL';

export const CLEAR_REJECTION = 'UPDATE item_steps SET rejected_at = NULL, rejected_note = NULL WHERE item_id = ? AND rejected_at IS NOT NULL';

/** Marks done steps rejected, per item, among `steps` step names. */
export const rejectStepsSql = (steps: number): string =>
  `UPDATE item_steps SET rejected_at = ?, rejected_note = ? WHERE item_id = ? AND state = 'done' AND step IN (${placeholders(steps)})`;

/** Every rejected step and each later one (in the step order bound as `steps` pairs of name and position) back to pending, in one statement. */
export const retryRejectedSql = (steps: number): string =>
  `WITH step_order (step, n) AS (VALUES ${Array.from({ length: steps }, () => '(?, ?)').join(', ')}),
     first_rejected (item_id, n) AS (
       SELECT s.item_id, min(o.n) FROM item_steps s JOIN step_order o ON o.step = s.step
       WHERE s.rejected_at IS NOT NULL GROUP BY s.item_id)
   UPDATE item_steps SET state = 'pending', attempts = 0, run_id = NULL, error_code = NULL, error_message = NULL, operation_name = NULL,
     rejected_at = NULL, rejected_note = NULL, updated_at = ?, model = NULL, cached = 0, no_cache = 1, finish_reason = NULL, truncated = 0
   WHERE state <> 'running' AND EXISTS (
     SELECT 1 FROM first_rejected f JOIN step_order o ON o.step = item_steps.step
     WHERE f.item_id = item_steps.item_id AND o.n >= f.n)`;
