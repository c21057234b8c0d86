import {
  ADOPT_UNITS,
  ASSIGN_UNIT,
  NAME_BATCH_JOB,
  OPEN_BATCH_JOB,
  RECENT_BATCH_JOBS,
  RELEASE_UNITS,
  REQUEST_HASHES,
  RUNNING_UNITS,
  SETTLED_UNITS,
  SETTLE_BATCH_JOB,
  UNIT_INTENTS,
  UNMATCHED_LINES,
  UNSETTLED_BATCH_JOBS,
  UPDATE_BATCH_JOB,
} from './sql/batch-jobs.js';
import type { Statements } from './statements.js';

/** A Vertex AI batch prediction job of this job's state (`batch_jobs`). */
export interface BatchJobRow {
  /** Local id, also the job's display name at Vertex. */
  id: string;
  step: string;
  project: string;
  model: string;
  /** The Vertex resource name, once the create call returned. */
  name: string | null;
  /** SUBMITTING, then the last JOB_STATE_* seen. */
  state: string;
  inputUri: string;
  outputUri: string;
  requests: number;
  succeeded: number;
  failed: number;
  reason: string | null;
  /** Output lines that matched no item, and items that got no line (schema 9). */
  unmatchedLines: number;
  missingItems: number;
  /** Lines Vertex billed (completionStats) that no readable output line accounts for (schema 10). */
  unreadableLines: number;
  createdAt: string;
  settledAt: string | null;
}

interface RawBatchJob {
  id: string;
  step: string;
  project: string;
  model: string;
  name: string | null;
  state: string;
  input_uri: string;
  output_uri: string;
  requests: number;
  succeeded: number;
  failed: number;
  reason: string | null;
  unmatched_lines?: number;
  missing_items?: number;
  unreadable_lines?: number;
  created_at: string;
  settled_at: string | null;
}

function toRow(raw: RawBatchJob): BatchJobRow {
  return {
    id: raw.id,
    step: raw.step,
    project: raw.project,
    model: raw.model,
    name: raw.name,
    state: raw.state,
    inputUri: raw.input_uri,
    outputUri: raw.output_uri,
    requests: raw.requests,
    succeeded: raw.succeeded,
    failed: raw.failed,
    reason: raw.reason,
    unmatchedLines: raw.unmatched_lines ?? 0,
    missingItems: raw.missing_items ?? 0,
    unreadableLines: raw.unreadable_lines ?? 0,
    createdAt: raw.created_at,
    settledAt: raw.settled_at,
  };
}

const now = (): string => new Date().toISOString();

/**
 * Batch jobs and the units they carry. Writes run inside the caller's group commit (store.commit),
 * so a job's row, its units' state and their ledger intent rows are durable together.
 */
export class BatchJobQueries {
  readonly #sql: Statements;
  /** A read-only store of a file older than schema 5 has no batch_jobs table: it has no batch jobs. */
  readonly #present: boolean;

  constructor(statements: Statements, present: boolean) {
    this.#sql = statements;
    this.#present = present;
  }

  /** The job's row, before it is submitted (state SUBMITTING). */
  open(job: { id: string; step: string; project: string; model: string; inputUri: string; outputUri: string; requests: number }): void {
    const at = now();
    this.#sql.get(OPEN_BATCH_JOB).run(job.id, job.step, job.project, job.model, job.inputUri, job.outputUri, job.requests, at, at);
  }

  /** A running unit belongs to the batch job (set in the same commit as its markRunning), with its request's hash. */
  assign(id: string, itemId: string, step: string, requestHash: string | undefined): void {
    this.#sql.get(ASSIGN_UNIT).run(id, requestHash ?? null, itemId, step);
  }

  /** The Vertex name, committed as soon as the create call returned. */
  named(id: string, name: string, state: string): void {
    this.#sql.get(NAME_BATCH_JOB).run(name, state, now(), id);
  }

  /** The last state seen, with the counts Vertex reports so far. */
  update(id: string, state: string, succeeded: number, failed: number): void {
    this.#sql.get(UPDATE_BATCH_JOB).run(state, succeeded, failed, now(), id);
  }

  /** Every unit settled and the staging files deleted: the job is history (status still lists it). */
  settle(id: string, state: string, counts: { succeeded: number; failed: number }, reason: string | null): void {
    const at = now();
    this.#sql.get(SETTLE_BATCH_JOB).run(state, counts.succeeded, counts.failed, reason, at, at, id);
    this.#sql.get(RELEASE_UNITS).run(id);
  }

  /** Lines of the job that matched no item, its items that got no line, and the billed lines that could not be read. */
  unmatched(id: string, lines: number, items: number, unreadable: number): void {
    this.#sql.get(UNMATCHED_LINES).run(lines, items, unreadable, id);
  }

  /** The job's units already settled (a run that died while collecting it settled them), with their request hashes. */
  settledUnits(id: string): { itemId: string; hash: string | null }[] {
    return (
      this.#sql.get(SETTLED_UNITS).all(id) as {
        item_id: string;
        batch_hash: string | null;
      }[]
    ).map((r) => ({ itemId: r.item_id, hash: r.batch_hash }));
  }

  /** The request hashes of the job's running units, by item id (kept at submission). */
  requestHashes(id: string): Map<string, string> {
    const rows = this.#sql.get(REQUEST_HASHES).all(id) as {
      item_id: string;
      batch_hash: string;
    }[];
    return new Map(rows.map((r) => [r.item_id, r.batch_hash]));
  }

  /** The units of a job left by an earlier run become this run's (they stay running). */
  adopt(id: string, runId: string): number {
    return this.#sql.get(ADOPT_UNITS).run(runId, id).changes;
  }

  /** Item ids of the job's units still running, in input order. */
  runningUnits(id: string): string[] {
    return this.#sql.get(RUNNING_UNITS).pluck().all(id) as string[];
  }

  /** The unsettled ledger intent rows of the job's units, by item id. */
  intents(id: string): Map<string, { id: number; reservedUsd: number }> {
    const rows = this.#sql.get(UNIT_INTENTS).all(id) as { id: number; item_id: string; reserved_usd: number }[];
    return new Map(rows.map((r) => [r.item_id, { id: r.id, reservedUsd: r.reserved_usd }]));
  }

  /** Jobs not yet settled, oldest first. */
  unsettled(): BatchJobRow[] {
    if (!this.#present) return [];
    return (this.#sql.get(UNSETTLED_BATCH_JOBS).all() as RawBatchJob[]).map(toRow);
  }

  /** The most recent jobs, newest first (status). */
  recent(limit: number): BatchJobRow[] {
    if (!this.#present) return [];
    return (this.#sql.get(RECENT_BATCH_JOBS).all(limit) as RawBatchJob[]).map(toRow);
  }
}
