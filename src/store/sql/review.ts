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

/** The steps `retry --rejected` redoes (each rejected step and every later one), as a WHERE clause on item_steps after `step_order` / `first_rejected`. */
const REDONE_BY_RETRY = `EXISTS (
     SELECT 1 FROM first_rejected f JOIN step_order o ON o.step = item_steps.step
     WHERE f.item_id = item_steps.item_id AND o.n >= f.n)`;

const stepOrderCte = (steps: number): string =>
  `WITH step_order (step, n) AS (VALUES ${Array.from({ length: steps }, () => '(?, ?)').join(', ')}),
     first_rejected (item_id, n) AS (
       SELECT s.item_id, min(o.n) FROM item_steps s JOIN step_order o ON o.step = s.step
       WHERE s.rejected_at IS NOT NULL GROUP BY s.item_id)`;

/** The done steps `retry --rejected` would redo: their outputs are kept for the reviewer's before/after. */
export const doneStepsToRedoSql = (steps: number): string =>
  `${stepOrderCte(steps)}
   SELECT * FROM item_steps WHERE state = 'done' AND ${REDONE_BY_RETRY}`;

/** Every rejected step and each later one back to pending, in one statement; each one's draw moves on (a step with a `seed` sends another). */
export const regenerateRejectedSql = (steps: number): string =>
  `${stepOrderCte(steps)}
   UPDATE item_steps SET state = 'pending', attempts = 0, run_id = NULL, error_code = NULL, error_message = NULL, operation_name = NULL,
     rejected_at = NULL, rejected_note = NULL, updated_at = ?, model = NULL, cached = 0, no_cache = 1, finish_reason = NULL, truncated = 0,
     draw = draw + 1, check_attempts = 0, checks_json = NULL, check_outcome = NULL
   WHERE state <> 'running' AND ${REDONE_BY_RETRY}`;

/** A replaced output, kept (one row per item and step; a later regenerate replaces it). */
export const KEEP_REPLACED = `INSERT OR REPLACE INTO replaced_outputs
  (item_id, step, result_json, outputs_json, prompt_hash, project, model, cost_usd, finish_reason, truncated, kept_dir, replaced_at, decision, decided_at)
  SELECT item_id, step, result_json, outputs_json, prompt_hash, project, model, cost_usd, finish_reason, truncated, ?, ?, NULL, NULL
  FROM item_steps WHERE item_id = ? AND step = ? AND state = 'done'`;

/** Replaced outputs the reviewer has not chosen between yet. */
export const UNDECIDED_REPLACED = `SELECT r.* FROM replaced_outputs r JOIN items i ON i.id = r.item_id WHERE r.decision IS NULL ORDER BY i.ord, r.step`;

export const REPLACED_OF_ITEM = 'SELECT * FROM replaced_outputs WHERE item_id = ? ORDER BY step';

export const DECIDE_REPLACED = 'UPDATE replaced_outputs SET decision = ?, decided_at = ? WHERE item_id = ? AND step = ? AND decision IS NULL';

/**
 * Keep old: the step done again with the result and outputs it had before the regenerate, whether the
 * regenerate is done, failed or not run yet (its cost stays: every call was paid for).
 */
export const RESTORE_REPLACED = `UPDATE item_steps SET (result_json, outputs_json, prompt_hash, project, model, finish_reason, truncated) =
  (SELECT r.result_json, r.outputs_json, r.prompt_hash, r.project, r.model, r.finish_reason, r.truncated
   FROM replaced_outputs r WHERE r.item_id = item_steps.item_id AND r.step = item_steps.step),
  state = 'done', error_code = NULL, error_message = NULL, operation_name = NULL, no_cache = 0, cached = 0, updated_at = ?
  WHERE item_id = ? AND step = ? AND state <> 'running'`;

export const EMULATOR_PROMPT_COUNTS = 'SELECT prompt_key AS key, asked FROM emulator_prompt_counts';

export const SAVE_EMULATOR_PROMPT_COUNT = `INSERT INTO emulator_prompt_counts (prompt_key, asked) VALUES (?, ?)
  ON CONFLICT (prompt_key) DO UPDATE SET asked = max(asked, excluded.asked)`;
