-- genbatch state, version 1. One file per job; the database is the source of truth for resume.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- One row per input item, keyed by the job's id column.
CREATE TABLE items (
  id          TEXT PRIMARY KEY,
  ord         INTEGER NOT NULL,          -- position in the input, for stable ordering
  line        INTEGER,                   -- 1-based line in the input file
  row_json    TEXT NOT NULL,             -- the input row as read
  input_hash  TEXT NOT NULL,             -- hash of the row, to tell when the input changed
  seen_run    TEXT                       -- last run whose input still had this item
);
CREATE INDEX items_ord ON items (ord);

-- Per item and step: the state machine pending -> running -> done | failed | filtered.
CREATE TABLE item_steps (
  item_id        TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
  step           TEXT NOT NULL,
  state          TEXT NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'running', 'done', 'failed', 'filtered')),
  attempts       INTEGER NOT NULL DEFAULT 0,
  run_id         TEXT,                   -- run holding a `running` row
  project        TEXT,                   -- project of the last call
  prompt_hash    TEXT,                   -- hash of the rendered request, for staleness
  result_json    TEXT,                   -- the step's result, for later steps and results
  outputs_json   TEXT,                   -- output file paths (relative to the output folder)
  operation_name TEXT,                   -- long-running operation (video), checkpointed at once
  error_code     TEXT,
  error_message  TEXT,
  cost_usd       REAL NOT NULL DEFAULT 0,
  updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (item_id, step)
);
CREATE INDEX item_steps_state ON item_steps (step, state);

CREATE TABLE runs (
  id          TEXT PRIMARY KEY,
  started_at  TEXT NOT NULL,
  ended_at    TEXT,
  outcome     TEXT,                      -- finished | failed_items | budget | cancelled | stalled | crashed
  exit_code   INTEGER,
  pid         INTEGER,
  host        TEXT,
  heartbeat_at TEXT,
  options_json TEXT
);

-- One row per API call, successful or not: the basis of cost and of `status`.
CREATE TABLE ledger (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id         TEXT NOT NULL,
  item_id        TEXT,
  step           TEXT,
  project        TEXT NOT NULL,
  model          TEXT NOT NULL,
  http_status    INTEGER NOT NULL,       -- 200, 429, 503...; 0 for a network failure
  error_code     TEXT,
  input_tokens   INTEGER NOT NULL DEFAULT 0,
  output_tokens  INTEGER NOT NULL DEFAULT 0,
  thoughts_tokens INTEGER NOT NULL DEFAULT 0,
  images         INTEGER NOT NULL DEFAULT 0,
  video_seconds  REAL NOT NULL DEFAULT 0,
  characters     INTEGER NOT NULL DEFAULT 0,
  cost_usd       REAL NOT NULL DEFAULT 0,
  duration_ms    INTEGER NOT NULL,
  at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX ledger_run ON ledger (run_id);
CREATE INDEX ledger_at ON ledger (at);

-- Project health that must survive a restart (cooldowns, daily exhaustion, breakers).
CREATE TABLE project_state (
  project     TEXT PRIMARY KEY,
  state       TEXT NOT NULL,             -- active | cooling | exhausted | disabled
  until_at    TEXT,
  reason      TEXT,
  detail_json TEXT,
  updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
