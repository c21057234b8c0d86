/** The spend journal (this host's bookings in a shared Redis budget, by epoch). */

export const JOURNAL_ID = "SELECT v FROM journal_meta WHERE k = 'id'";

export const SET_JOURNAL_ID = "INSERT OR IGNORE INTO journal_meta (k, v) VALUES ('id', ?)";

export const HOLD = 'INSERT OR REPLACE INTO journal_holds (id, scope, day, job, epoch, nano) VALUES (?, ?, ?, ?, ?, ?)';

export const DROP_HOLD = 'DELETE FROM journal_holds WHERE id = ?';

export const ADD_SPEND = `INSERT INTO journal_spend (scope, day, job, project, epoch, nano, calls) VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT(scope, day, job, project, epoch) DO UPDATE SET nano = nano + excluded.nano, calls = calls + excluded.calls`;

export const SPEND_NOT_IN =
  'SELECT scope, day, job, project, sum(nano) AS nano, sum(calls) AS calls FROM journal_spend WHERE epoch != ? AND day >= ? GROUP BY scope, day, job, project';

export const HOLDS_NOT_IN = 'SELECT id, scope, day, job, nano FROM journal_holds WHERE epoch != ? AND day >= ?';

/** The journal's tables (created when missing). */
export const JOURNAL_SCHEMA = `
CREATE TABLE IF NOT EXISTS journal_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal_spend (
  scope TEXT NOT NULL, day TEXT NOT NULL, job TEXT NOT NULL, project TEXT NOT NULL, epoch TEXT NOT NULL,
  nano INTEGER NOT NULL, calls INTEGER NOT NULL,
  PRIMARY KEY (scope, day, job, project, epoch)
);
CREATE TABLE IF NOT EXISTS journal_holds (id TEXT PRIMARY KEY, scope TEXT NOT NULL, day TEXT NOT NULL, job TEXT NOT NULL, epoch TEXT NOT NULL, nano INTEGER NOT NULL);
`;

/** Rows of a day-keyed table before the day bound. */
export const forgetDaySql = (table: string): string => `DELETE FROM ${table} WHERE day < ?`;
