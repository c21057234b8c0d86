-- genbatch state, version 9: batch output matched without an echoed key (issue 23). Output lines
-- are matched to items by key, request label or request hash; a job whose lines could not all be
-- matched records how many lines matched no item and how many items got no line (status shows them).

ALTER TABLE batch_jobs ADD COLUMN unmatched_lines INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batch_jobs ADD COLUMN missing_items INTEGER NOT NULL DEFAULT 0;

-- The hash of the canonical form of the request a running unit's line carried (its contents and
-- system instruction), kept from submission to settlement: the last way to match an output line
-- whose echoed request lost both the key and the label, even if the job file changed meanwhile.
ALTER TABLE item_steps ADD COLUMN batch_hash TEXT;
