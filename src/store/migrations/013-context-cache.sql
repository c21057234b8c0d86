-- genbatch state, version 13: explicit context caches (issue 29).

-- The Vertex context caches (cachedContents) a run made for a step's static prefix, one per step,
-- project (credentials entry), location and model at a time. The name is committed before the
-- cache's first use, so that a resume (after kill -9 too) reuses it while it lives, and deletes it.
-- Before the create call, a row named `pending:<id>` is committed with the display name the cache
-- gets (intent before spend): a run killed between the create and recording its name leaves that row,
-- and the resume finds the cache by its display name, books its storage and deletes or reuses it.
-- Times are epoch ms. `booked_until`: the cache's storage is in the ledger up to here (create, then
-- each TTL bought); a delete books the difference to the time it really ended.
CREATE TABLE context_caches (
  name          TEXT PRIMARY KEY,
  step          TEXT NOT NULL,
  project       TEXT NOT NULL,
  location      TEXT NOT NULL,
  model         TEXT NOT NULL,
  token_count   INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  expire_at     INTEGER NOT NULL,
  booked_until  INTEGER NOT NULL,
  ended_at      INTEGER,
  run_id        TEXT NOT NULL,
  display_name  TEXT
);
CREATE INDEX context_caches_live ON context_caches (step, project, model) WHERE ended_at IS NULL;

-- Ledger rows of a cache's storage (not calls): the cache's name, and the token-hours they book
-- (negative for a correction at delete). `genbatch cost` shows them on a line of their own.
ALTER TABLE ledger ADD COLUMN context_cache TEXT;
ALTER TABLE ledger ADD COLUMN cache_token_hours REAL NOT NULL DEFAULT 0;
