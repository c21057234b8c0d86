-- genbatch state, version 11: regenerating what a reviewer rejected (issue 27.12).

-- How many times a reviewer had this step redone (`retry --rejected`, "Regenerate rejected"). A step
-- whose params set a `seed` sends seed + draw, so a regenerate is a new draw at Vertex too.
ALTER TABLE item_steps ADD COLUMN draw INTEGER NOT NULL DEFAULT 0;

-- The output a regenerate replaced, kept until the reviewer chooses between the two: `new` keeps the
-- regenerated output, `old` puts this one back (its files are copies in the folder `kept_dir` of
-- `<state file>.replaced/`). A decided row stays as the record of the choice.
CREATE TABLE replaced_outputs (
  item_id       TEXT NOT NULL,
  step          TEXT NOT NULL,
  result_json   TEXT,
  outputs_json  TEXT,
  prompt_hash   TEXT,
  project       TEXT,
  model         TEXT,
  cost_usd      REAL NOT NULL DEFAULT 0,
  finish_reason TEXT,
  truncated     INTEGER NOT NULL DEFAULT 0,
  kept_dir      TEXT,
  replaced_at   TEXT NOT NULL,
  decision      TEXT CHECK (decision IN ('new', 'old')),
  decided_at    TEXT,
  PRIMARY KEY (item_id, step)
);

-- The in-process emulator's asks per prompt (`--emulator`), kept from one start to the next: the
-- emulator draws the n-th ask of a prompt from (seed, prompt, n), so a regenerated item is a new draw.
CREATE TABLE emulator_prompt_counts (
  prompt_key INTEGER PRIMARY KEY,
  asked      INTEGER NOT NULL
);
