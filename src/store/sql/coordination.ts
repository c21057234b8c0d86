/** The local coordinator's file: capacity windows, holders, pacing turns and leases, cooldowns, daily counts, runs and shared budgets. */

export const WINDOW_STATE = 'SELECT state FROM capacity_windows WHERE key = ?';

export const SET_WINDOW_STATE =
  'INSERT INTO capacity_windows (key, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at';

export const RECENT_WINDOWS = 'SELECT key, state FROM capacity_windows WHERE updated_at >= ? ORDER BY key';

export const TOUCH_HOLDER = 'INSERT INTO holders (id, pid, host, seen_at) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET seen_at = excluded.seen_at';

export const DROP_HOLDER_LEASES = 'DELETE FROM leases WHERE holder = ?';

export const DROP_HOLDER_RUNS = 'DELETE FROM runs WHERE holder = ?';

export const DROP_HOLDER = 'DELETE FROM holders WHERE id = ?';

export const HOLDERS = 'SELECT id, pid, host, seen_at FROM holders';

export const PACING = 'SELECT next_at, tokens_window, tokens_used, last_holder, last_at FROM pacing WHERE key = ?';

export const DROP_STALE_LEASES = 'DELETE FROM leases WHERE key = ? AND holder NOT IN (SELECT id FROM holders WHERE seen_at >= ?)';

export const SET_PACING = `INSERT INTO pacing (key, next_at, tokens_window, tokens_used, last_holder, last_at) VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT(key) DO UPDATE SET next_at = excluded.next_at, tokens_window = excluded.tokens_window, tokens_used = excluded.tokens_used,
    last_holder = excluded.last_holder, last_at = excluded.last_at`;

export const TAKE_LEASE = 'INSERT INTO leases (key, holder, at) VALUES (?, ?, ?)';

export const LEASES_IN_FLIGHT = 'SELECT count(*) AS n FROM leases WHERE key = ?';

export const PUSH_NEXT_TURN = 'UPDATE pacing SET next_at = max(next_at, ?) WHERE key = ?';

export const TURN_READY = 'SELECT next_at, tokens_window, tokens_used FROM pacing WHERE key = ?';

export const END_LEASE = 'DELETE FROM leases WHERE id = ?';

export const RETURN_TOKENS = 'UPDATE pacing SET tokens_used = max(0, tokens_used + ?) WHERE key = ? AND tokens_window = ?';

export const SET_COOLDOWN = `INSERT INTO cooldowns (key, model, until, reason, per_day, at, by, cleared_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
  ON CONFLICT(key) DO UPDATE SET model = excluded.model, until = excluded.until, reason = excluded.reason, per_day = excluded.per_day,
    at = excluded.at, by = excluded.by, cleared_at = NULL
  WHERE cooldowns.cleared_at IS NOT NULL OR cooldowns.until < excluded.until`;

export const CLEAR_COOLDOWN = 'UPDATE cooldowns SET cleared_at = ? WHERE key = ? AND cleared_at IS NULL AND at < ?';

export const BUMP_COOLDOWNS = "UPDATE versions SET v = v + 1 WHERE name = 'cooldowns'";

export const COOLDOWNS_VERSION = "SELECT v FROM versions WHERE name = 'cooldowns'";

export const COOLDOWNS = 'SELECT key, model, until, reason, per_day, at, by, cleared_at FROM cooldowns';

export const DAILY_COUNT = 'SELECT count FROM daily WHERE key = ? AND day = ?';

export const SET_DAILY_COUNT = 'INSERT INTO daily (key, day, count) VALUES (?, ?, ?) ON CONFLICT(key, day) DO UPDATE SET count = excluded.count';

export const FORGET_OLD_DAYS = 'DELETE FROM daily WHERE day < ?';

export const JOIN_RUN =
  'INSERT OR REPLACE INTO runs (run_id, holder, job, job_file, host, pid, started_at, projects) VALUES (@runId, @holder, @job, @jobFile, @host, @pid, @startedAt, @projects)';

export const LEAVE_RUN = 'DELETE FROM runs WHERE run_id = ?';

export const RUNS =
  'SELECT r.run_id, r.holder, r.job, r.job_file, r.host, r.pid, r.started_at, r.projects, h.seen_at FROM runs r JOIN holders h ON h.id = r.holder WHERE h.seen_at >= ? ORDER BY r.started_at';

export const BUDGET_SPENT = 'SELECT coalesce(sum(nano), 0) AS n FROM budget_spend WHERE scope = ? AND day = ?';

export const BUDGET_HELD = 'SELECT coalesce(sum(nano), 0) AS n FROM budget_holds WHERE scope = ? AND day = ?';

export const RESERVE_BUDGET = 'INSERT INTO budget_holds (scope, day, holder, job, nano) VALUES (?, ?, ?, ?, ?)';

export const DROP_BUDGET_HOLD = 'DELETE FROM budget_holds WHERE id = ?';

export const SETTLE_BUDGET_SPEND = `INSERT INTO budget_spend (scope, day, job, project, nano, calls) VALUES (?, ?, ?, ?, ?, 1)
  ON CONFLICT(scope, day, job, project) DO UPDATE SET nano = nano + excluded.nano, calls = calls + 1`;

export const RECORD_SPEND = `INSERT INTO budget_spend (scope, day, job, project, nano, calls) VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT(scope, day, job, project) DO UPDATE SET nano = nano + excluded.nano, calls = calls + excluded.calls`;

export const BUDGET_DAY = 'SELECT job, project, nano, calls FROM budget_spend WHERE scope = ? AND day = ? ORDER BY job, project';

export const CLAIM_ALERT = 'INSERT OR IGNORE INTO budget_alerts (scope, day, at) VALUES (?, ?, ?)';

/** Shared-capacity windows (one per endpoint, location and model), as the coordination layer writes them. */
export const WINDOWS_SCHEMA = `CREATE TABLE IF NOT EXISTS capacity_windows (key TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL);`;

/** The tables of the coordination file of schema 2 (an older file is started afresh: it holds nothing lasting). */
export const COORDINATION_SCHEMA = `
CREATE TABLE IF NOT EXISTS holders (id TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, seen_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pacing (
  key TEXT PRIMARY KEY,
  next_at REAL NOT NULL DEFAULT 0,
  tokens_window INTEGER NOT NULL DEFAULT 0,
  tokens_used INTEGER NOT NULL DEFAULT 0,
  last_holder TEXT NOT NULL DEFAULT '',
  last_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, key TEXT NOT NULL, holder TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS leases_by_key ON leases(key);
CREATE TABLE IF NOT EXISTS cooldowns (
  key TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  until INTEGER NOT NULL,
  reason TEXT NOT NULL,
  per_day INTEGER NOT NULL,
  at INTEGER NOT NULL,
  by TEXT NOT NULL,
  cleared_at INTEGER
);
CREATE TABLE IF NOT EXISTS daily (key TEXT NOT NULL, day TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (key, day));
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  job TEXT NOT NULL,
  job_file TEXT NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  projects TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS budget_spend (
  scope TEXT NOT NULL, day TEXT NOT NULL, job TEXT NOT NULL, project TEXT NOT NULL,
  nano INTEGER NOT NULL, calls INTEGER NOT NULL,
  PRIMARY KEY (scope, day, job, project)
);
CREATE TABLE IF NOT EXISTS budget_holds (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, day TEXT NOT NULL, holder TEXT NOT NULL, job TEXT NOT NULL, nano INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS budget_holds_by_day ON budget_holds(scope, day);
CREATE TABLE IF NOT EXISTS budget_alerts (scope TEXT NOT NULL, day TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (scope, day));
CREATE TABLE IF NOT EXISTS versions (name TEXT PRIMARY KEY, v INTEGER NOT NULL);
INSERT OR IGNORE INTO versions (name, v) VALUES ('cooldowns', 0);
`;

/** Rows of a day-keyed table before the day bound. */
export const forgetDaySql = (table: string): string => `DELETE FROM ${table} WHERE day < ?`;
