/**
 * The step transitions: each is one guarded UPDATE, whose guard (the state the run left the row in)
 * is a clause below, so a row another run changed is left alone.
 */

export const RECOVER_ABANDONED = `UPDATE item_steps SET state = 'pending', run_id = NULL, updated_at = ? WHERE state = 'running' AND (run_id IS NULL OR run_id <> ?) AND batch_id IS NULL`;

export const MARK_RUNNING = `UPDATE item_steps SET state = 'running', run_id = ?, project = ?, updated_at = ? WHERE item_id = ? AND step = ? AND state = 'pending'`;

export const DONE_OUTPUTS_BETWEEN = `SELECT s.item_id, s.step, s.outputs_json
  FROM (SELECT DISTINCT item_id, step FROM ledger WHERE at >= ? AND at <= ? AND item_id IS NOT NULL) l
  JOIN item_steps s ON s.item_id = l.item_id AND s.step = l.step
  WHERE s.state = 'done' AND s.outputs_json IS NOT NULL AND s.outputs_json <> '[]'`;

/** Guard: not yet finished (a transition without a run id). */
export const UNFINISHED = `state IN ('pending', 'running')`;
/** Guard: running in this run (the run id is bound after the statement's own values). */
export const RUNNING_IN_RUN = `state = 'running' AND run_id = ?`;
/** Guard of finishStep in a run: running in it, or pending (a step that could not even be rendered). */
export const PENDING_OR_RUNNING_IN_RUN = `(state = 'pending' OR (state = 'running' AND run_id = ?))`;

/** running → pending; a failure without a reply keeps the finish reason of the last reply that came. */
export const markPendingSql = (guard: string): string =>
  `UPDATE item_steps SET state = 'pending', run_id = NULL, attempts = attempts + ?, error_code = ?, error_message = ?, cost_usd = cost_usd + ?,
     finish_reason = coalesce(?, finish_reason), updated_at = ?
   WHERE item_id = ? AND step = ? AND ${guard}`;

export const setOperationNameSql = (guard: string): string =>
  `UPDATE item_steps SET operation_name = ?, updated_at = ? WHERE item_id = ? AND step = ? AND ${guard}`;

export const completeStepSql = (guard: string): string =>
  `UPDATE item_steps SET state = 'done', run_id = NULL, attempts = attempts + 1, result_json = ?, outputs_json = ?, prompt_hash = ?,
     cost_usd = cost_usd + ?, error_code = NULL, error_message = NULL, operation_name = NULL, updated_at = ?, model = ?, cached = ?,
     cache_key = ?, no_cache = 0, finish_reason = ?, truncated = ?
   WHERE item_id = ? AND step = ? AND ${guard}`;

export const finishStepSql = (guard: string): string =>
  `UPDATE item_steps SET state = ?, run_id = NULL, attempts = attempts + 1, error_code = ?, error_message = ?, prompt_hash = coalesce(?, prompt_hash),
     cost_usd = cost_usd + ?, updated_at = ?, model = ?, cached = 0, finish_reason = coalesce(?, finish_reason), truncated = 0
   WHERE item_id = ? AND step = ? AND ${guard}`;

/** Back to pending, per item: `steps` step names and `states` states bound; `noCache`: the next answers come from calls. */
export const resetStepsSql = (steps: number, states: number, noCache: boolean): string =>
  `UPDATE item_steps SET state = 'pending', attempts = 0, run_id = NULL, error_code = NULL, error_message = NULL, operation_name = NULL, updated_at = ?,
     model = NULL, cached = 0, no_cache = ${noCache ? 1 : 0}, finish_reason = NULL, truncated = 0, check_attempts = 0, checks_json = NULL, check_outcome = NULL
   WHERE item_id = ? AND step IN (${placeholders(steps)}) AND state IN (${placeholders(states)})`;

/** `n` bound values, comma separated. */
export const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(',');
