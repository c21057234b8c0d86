-- genbatch state, version 6: fallback models and the response cache (issue 16).

-- The model that produced the step's result: the step's own, or one of its `fallback:` models.
ALTER TABLE item_steps ADD COLUMN model TEXT;
-- 1 when the result came from the response cache (no call, nothing paid).
ALTER TABLE item_steps ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;
-- A cache hit is written to the ledger as a $0 row of project "(cache)", marked here, so that
-- spend, status and cost reports show what was served without a call.
ALTER TABLE ledger ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;
-- The response cache key of a done step's answer (to forget it when the answer is rejected).
ALTER TABLE item_steps ADD COLUMN cache_key TEXT;
-- 1 when the step was put back to be redone (retry, --redo…): its next answer must come from a call.
ALTER TABLE item_steps ADD COLUMN no_cache INTEGER NOT NULL DEFAULT 0;
