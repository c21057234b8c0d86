import type { BatchJobQueries } from '../batch-job-queries.js';
import type { CheckVerdict } from '../../quality/check-verdict.js';
import type { CheckOutcome, LedgerEntry, StepDone, StepFailure } from '../rows.js';

/**
 * The state transitions the executors write, one per checkpoint of a call (as BullMQ keeps its
 * backend behind one interface). Each is a single guarded statement: one that finds its row changed
 * throws a STATE_CONFLICT and changes nothing. Writes go through `commit` (the group commit) unless
 * they must be durable at once.
 */
export interface Checkpoints {
  /** Runs writes in the next group commit; resolves once they are durable. Writes that must hold together go in one `write`. */
  commit<T>(write: () => T): Promise<T>;
  /** pending → running, in this run and on this project. */
  markRunning(itemId: string, step: string, runId: string, project: string): void;
  /** running → pending after a requeued or retried call; `countAttempt` when it used an attempt. */
  markPending(
    itemId: string,
    step: string,
    options: { countAttempt: boolean; errorCode?: string; errorMessage?: string; costUsd?: number; runId?: string; finishReason?: string },
  ): void;
  /** Checkpoints a long-running operation's name (or clears it) on a step this run is running. */
  setOperationName(itemId: string, step: string, operationName: string | null, runId?: string): void;
  /** The step's outcome and its call's ledger row, committed together. */
  completeStep(itemId: string, step: string, done: StepDone, call?: LedgerEntry, runId?: string): void;
  /** failed or filtered: from `running` in this run, or from `pending` (a step that could not even be rendered). */
  finishStep(itemId: string, step: string, state: 'failed' | 'filtered', error: StepFailure, call?: LedgerEntry, runId?: string): void;
  /**
   * An output failed its checks and is regenerated: the attempt is kept (check_attempts), its call's
   * ledger row recorded, and the step goes back to pending with one more regeneration counted, all in
   * one transaction (running in this run), so a resume never loses the count.
   */
  regenerateStep(itemId: string, step: string, replaced: RegeneratedOutput, call: LedgerEntry | undefined, runId: string): void;
  /** The verdicts and outcome of the step's last output, in the same commit as the transition that ended it. */
  setChecks(itemId: string, step: string, checks: readonly CheckVerdict[], outcome: CheckOutcome): void;
  /** Throws RunLockLostError when the run no longer holds the job's lock: checked before output files are put in place. */
  checkFence(): void;
}

/** Vertex AI batch prediction jobs and the units they carry: the checkpoints of the batch executor. */
export type BatchJobs = Pick<
  BatchJobQueries,
  'open' | 'assign' | 'named' | 'update' | 'settle' | 'unmatched' | 'settledUnits' | 'requestHashes' | 'adopt' | 'runningUnits' | 'intents' | 'unsettled'
>;

/** The batch executor's checkpoints: those of a call, and its batch jobs' rows. */
export interface BatchCheckpoints extends Checkpoints {
  readonly batches: BatchJobs;
}

/** The output a regeneration replaces: its result, files, verdicts and what it cost. */
export interface RegeneratedOutput {
  result: unknown;
  outputs: string[];
  checks: readonly CheckVerdict[];
  costUsd: number;
  finishReason?: string;
}
