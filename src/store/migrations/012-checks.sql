-- genbatch state, version 12: quality gates (issue 28).

-- The latest verdicts of the step's checks (a JSON array of CheckVerdict: check, passed, reason, score);
-- NULL for a step without checks or before any output was checked.
ALTER TABLE item_steps ADD COLUMN checks_json TEXT;
-- Regenerations made after failed checks in the current round (on_fail.regenerate caps it); committed
-- with the failed attempt's ledger row, so a resume after kill -9 never makes more than N. `retry` starts a new round.
ALTER TABLE item_steps ADD COLUMN check_attempts INTEGER NOT NULL DEFAULT 0;
-- passed | regenerated (passed after regenerating) | kept | review (kept and queued for a person) | failed.
ALTER TABLE item_steps ADD COLUMN check_outcome TEXT CHECK (check_outcome IN ('passed', 'regenerated', 'kept', 'review', 'failed'));
-- Every regeneration ever made (never reset): the step's seed moves on by it (with `draw`), so a new
-- round after `retry` does not send the seed of an attempt that failed already.
ALTER TABLE item_steps ADD COLUMN check_draws INTEGER NOT NULL DEFAULT 0;

-- Each output a regeneration replaced: what it was, why it failed, what it cost. `attempt` counts
-- from 1 over the step's whole life (check_draws at the time), so rows of earlier rounds stay.
CREATE TABLE check_attempts (
  item_id      TEXT NOT NULL,
  step         TEXT NOT NULL,
  attempt      INTEGER NOT NULL,
  result_json  TEXT,
  outputs_json TEXT,
  checks_json  TEXT NOT NULL,
  cost_usd     REAL NOT NULL DEFAULT 0,
  at           TEXT NOT NULL,
  PRIMARY KEY (item_id, step, attempt)
);
