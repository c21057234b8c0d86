/** Vertex AI batch prediction jobs and the units they carry. */

export const OPEN_BATCH_JOB = `INSERT INTO batch_jobs (id, step, project, model, state, input_uri, output_uri, requests, created_at, updated_at)
  VALUES (?, ?, ?, ?, 'SUBMITTING', ?, ?, ?, ?, ?)`;

export const ASSIGN_UNIT = `UPDATE item_steps SET batch_id = ?, batch_hash = ? WHERE item_id = ? AND step = ? AND state = 'running'`;

export const NAME_BATCH_JOB = 'UPDATE batch_jobs SET name = ?, state = ?, updated_at = ? WHERE id = ?';

export const UPDATE_BATCH_JOB = 'UPDATE batch_jobs SET state = ?, succeeded = ?, failed = ?, updated_at = ? WHERE id = ?';

export const SETTLE_BATCH_JOB = 'UPDATE batch_jobs SET state = ?, succeeded = ?, failed = ?, reason = ?, updated_at = ?, settled_at = ? WHERE id = ?';

export const RELEASE_UNITS = 'UPDATE item_steps SET batch_id = NULL, batch_hash = NULL WHERE batch_id = ?';

export const UNMATCHED_LINES = 'UPDATE batch_jobs SET unmatched_lines = ?, missing_items = ?, unreadable_lines = ? WHERE id = ?';

export const SETTLED_UNITS = `SELECT item_id, batch_hash FROM item_steps WHERE batch_id = ? AND state <> 'running'`;

export const REQUEST_HASHES = `SELECT item_id, batch_hash FROM item_steps WHERE batch_id = ? AND state = 'running' AND batch_hash IS NOT NULL`;

export const ADOPT_UNITS = `UPDATE item_steps SET run_id = ? WHERE batch_id = ? AND state = 'running'`;

export const RUNNING_UNITS = `SELECT s.item_id FROM item_steps s JOIN items i ON i.id = s.item_id WHERE s.batch_id = ? AND s.state = 'running' ORDER BY i.ord`;

export const UNIT_INTENTS = `SELECT l.id, l.item_id, l.reserved_usd FROM item_steps s JOIN ledger l ON l.item_id = s.item_id AND l.step = s.step
  WHERE s.batch_id = ? AND l.settled = 0 ORDER BY l.id`;

export const UNSETTLED_BATCH_JOBS = 'SELECT * FROM batch_jobs WHERE settled_at IS NULL ORDER BY created_at, id';

export const RECENT_BATCH_JOBS = 'SELECT * FROM batch_jobs ORDER BY created_at DESC, id DESC LIMIT ?';
