/** The job's run lock (a meta row) and the runs' own rows: start, heartbeat, end. */

export const GET_LOCK = "SELECT value FROM meta WHERE key = 'lock'";

export const MARK_RUN_CRASHED = "UPDATE runs SET ended_at = coalesce(ended_at, ?), outcome = coalesce(outcome, 'crashed') WHERE id = ?";

export const DELETE_LOCK = "DELETE FROM meta WHERE key = 'lock'";

export const START_RUN = 'INSERT INTO runs (id, started_at, pid, host, heartbeat_at, options_json) VALUES (?, ?, ?, ?, ?, ?)';

export const HEARTBEAT = 'UPDATE runs SET heartbeat_at = ? WHERE id = ?';

export const END_RUN = 'UPDATE runs SET ended_at = ?, outcome = ?, exit_code = ? WHERE id = ?';

export const LAST_RUN = 'SELECT * FROM runs ORDER BY rowid DESC LIMIT 1';

export const GET_RUN = 'SELECT * FROM runs WHERE id = ?';
