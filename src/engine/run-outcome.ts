import type { RunOutcome } from './events.js';

/** What a pass knows when it ends, to say how the run ended. */
export interface OutcomeFacts {
  /** Why the pass was stopped (budget, Ctrl-C, stall …), if it was. */
  stopReason: RunOutcome | undefined;
  /** A batch step stopped while the other steps went on. */
  batchStopped: boolean;
  /** Steps that failed in this pass. */
  failedNow: number;
  /** Failed steps over the whole job, this pass's and earlier runs'. */
  failedTotal: number;
  /** `--strict`: failures left by earlier runs fail this run too. */
  strict: boolean;
}

/**
 * How a finished pass ended, and so its exit code. A failure is news once: the run in which a step
 * failed exits 1 (failed_items); a later run that finds it still there exits 0, or else a nightly
 * job would fail every night for one bad row, until someone retries it. `--strict` keeps the old
 * rule. Filtered items (refused on safety grounds) are an outcome, never a failure: they are counted
 * in the summary and `status`, and exit 0.
 */
export function runOutcome(facts: OutcomeFacts): RunOutcome {
  if (facts.stopReason) return facts.stopReason;
  if (facts.batchStopped) return 'batch_stopped';
  if (facts.failedNow > 0 || (facts.strict && facts.failedTotal > 0)) return 'failed_items';
  return 'finished';
}
