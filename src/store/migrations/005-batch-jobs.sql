-- genbatch state, version 5: Vertex AI batch prediction (issue 14). A batch job's row is written
-- before it is submitted (state SUBMITTING, with the staging URIs and its units), and its Vertex
-- name is committed as soon as the create call returns, before anything else: a run killed at any
-- moment finds every job it may have submitted here, and polls it instead of submitting again.

CREATE TABLE batch_jobs (
  -- Local id, also the job's display name at Vertex (how a job created just before a kill is found).
  id TEXT PRIMARY KEY,
  step TEXT NOT NULL,
  project TEXT NOT NULL,
  model TEXT NOT NULL,
  -- projects/…/locations/…/batchPredictionJobs/…, once the create call returned.
  name TEXT,
  -- SUBMITTING, then the last JOB_STATE_* seen.
  state TEXT NOT NULL,
  input_uri TEXT NOT NULL,
  output_uri TEXT NOT NULL,
  requests INTEGER NOT NULL,
  succeeded INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  -- Why the job's unfinished units went back to pending (expired, cancelled, failed).
  reason TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  -- Set once every unit of the job is settled and its staging files are deleted.
  settled_at TEXT
);

CREATE INDEX batch_jobs_open ON batch_jobs (created_at) WHERE settled_at IS NULL;

-- The batch job a running step belongs to: such a step is not put back to pending when its run dies.
ALTER TABLE item_steps ADD COLUMN batch_id TEXT;
CREATE INDEX item_steps_batch ON item_steps (batch_id) WHERE batch_id IS NOT NULL;
