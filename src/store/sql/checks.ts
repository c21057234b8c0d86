/** Quality gates (issue 28, schema 12): check verdicts, regenerations and the outputs they replaced. */

/** A failed output replaced: its attempt row, and the step back to pending with one more regeneration (running in this run). */
export const INSERT_CHECK_ATTEMPT = `INSERT INTO check_attempts (item_id, step, attempt, result_json, outputs_json, checks_json, cost_usd, at)
  SELECT item_id, step, check_draws + 1, ?, ?, ?, ?, ? FROM item_steps WHERE item_id = ? AND step = ?`;

export const regenerateStepSql = (guard: string): string =>
  `UPDATE item_steps SET state = 'pending', run_id = NULL, check_attempts = check_attempts + 1, check_draws = check_draws + 1, no_cache = 1,
     checks_json = ?, cost_usd = cost_usd + ?, error_code = 'CHECKS_FAILED', error_message = ?, finish_reason = coalesce(?, finish_reason),
     updated_at = ?
   WHERE item_id = ? AND step = ? AND ${guard}`;

/** The verdicts and outcome of the step's last output, set beside the transition that ends it. */
export const SET_CHECKS = 'UPDATE item_steps SET checks_json = ?, check_outcome = ? WHERE item_id = ? AND step = ?';

export const CHECK_ATTEMPTS_OF = `SELECT item_id, step, attempt, result_json, outputs_json, checks_json, cost_usd, at FROM check_attempts
  WHERE item_id = ? AND step = ? ORDER BY attempt`;

/** Per check: outputs whose latest verdicts passed it, and failed it (a check written twice passes only when both do). */
export const CHECK_COUNTS = `SELECT name, sum(ok) AS passed, sum(1 - ok) AS failed FROM (
    SELECT s.item_id, s.step, json_extract(v.value, '$.check') AS name, min(json_extract(v.value, '$.passed')) AS ok
    FROM item_steps s, json_each(s.checks_json) v WHERE s.checks_json IS NOT NULL AND s.state IN ('done', 'failed')
    GROUP BY s.item_id, s.step, name)
  GROUP BY name ORDER BY name`;

/** Outcomes of the checks per step: passed, regenerated, kept, review, failed. */
export const CHECK_OUTCOMES = `SELECT step, check_outcome AS outcome, count(*) AS n FROM item_steps WHERE check_outcome IS NOT NULL GROUP BY step, check_outcome`;
