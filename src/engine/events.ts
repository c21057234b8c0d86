import type { Usage } from '../providers/provider.js';
import type { CheckVerdict } from '../quality/check-verdict.js';
import type { StepState } from '../store/step-state.js';
import type { GateDecision } from './check-gate.js';

export type { ProjectSnapshot } from '../coordination/project-pool.js';

/**
 * What the engine tells the world. Progress bars, logs and metrics listen to these; the scheduler
 * never writes to a terminal itself.
 */
export interface EngineEvents {
  /** `pendingSteps`: the steps this pass has left to do, per step (after a resume, fewer than `pending` times the steps). */
  'run:start': [{ runId: string; total: number; pending: number; pendingSteps: Record<string, number>; recovered: number; steps: string[] }];
  'run:nothing': [{ runId: string; total: number; done: number; failed: number; filtered: number }];
  'step:start': [{ itemId: string; step: string; project: string; attempt: number }];
  /** `finishReason`: why the model stopped (Gemini's finish reason), when it says; `truncated`: a cut reply kept (`on_truncated: keep`). */
  'step:done': [
    { itemId: string; step: string; project: string; costUsd: number; durationMs: number; outputs: string[]; finishReason?: string; truncated?: boolean },
  ];
  'step:failed': [{ itemId: string; step: string; code: string; message: string; finishReason?: string }];
  'step:filtered': [{ itemId: string; step: string; reason: string; finishReason?: string }];
  /**
   * An output's checks (issue 28): every verdict, and what the gate did: passed, regenerated (passed
   * after regenerating), regenerate (another attempt follows), kept, review, failed. `attempt`: 1 for
   * the step's first output of this round.
   */
  'step:checks': [{ itemId: string; step: string; outcome: GateDecision; verdicts: CheckVerdict[]; attempt: number }];
  /** One API call, successful or not, as its ledger row records it (metrics count these). */
  'call:end': [
    { itemId: string; step: string; project: string; model: string; httpStatus: number; errorCode?: string; usage: Usage; costUsd: number; durationMs: number },
  ];
  /** `waitingOn`: refused by shared capacity (no attempt used), the how-manieth time in a row (`refusals`). */
  'step:retry': [
    {
      itemId: string;
      step: string;
      project: string;
      code: string;
      message: string;
      attempt: number;
      delayMs: number;
      finishReason?: string;
      waitingOn?: string;
      refusals?: number;
    },
  ];
  'project:cooldown': [{ project: string; untilMs: number; reason: string; perDay: boolean }];
  'project:disabled': [{ project: string; reason: string }];
  /** A project cannot use a model (404/403 for the model alone): the model is left out on it for the run. */
  'model:unavailable': [{ project: string; model: string; reason: string }];
  /** A lane's calls move to another of its step's models: a fallback (or back to the step's own model, when `model` is `primary`). */
  'model:fallback': [{ pool: string; model: string; primary: string; reason: string }];
  'project:active': [{ project: string }];
  'credentials:reloaded': [{ added: string[]; removed: string[]; changed: string[] }];
  'credentials:invalid': [{ message: string }];
  /** A long-running operation (video) was started or resumed and is being polled. */
  'operation:pending': [{ itemId: string; step: string; operationName: string; resumed: boolean }];
  /** A Vertex AI batch prediction job was submitted (or found again by a resume, `resumed`). */
  'batch:submitted': [{ name: string; step: string; project: string; requests: number; resumed: boolean }];
  /** A batch job's state changed (JOB_STATE_QUEUED, RUNNING, ...). */
  'batch:state': [{ name: string; step: string; state: string; succeeded: number; failed: number }];
  /**
   * A batch job ended and its lines were settled; `requeued` units went back to pending (expired,
   * cancelled, failed). `unmatched` output lines matched no item and `missing` items got no line
   * (set only when some did: those items failed and the step stopped, see `batch:stopped`);
   * `unreadable` lines were billed (the job's completionStats) but no readable line accounts for them;
   * `damaged` lines of the output are not JSON (set when some are).
   */
  'batch:settled': [
    {
      name: string;
      step: string;
      state: string;
      succeeded: number;
      failed: number;
      requeued: number;
      unmatched?: number;
      missing?: number;
      unreadable?: number;
      damaged?: number;
      reason?: string;
    },
  ];
  /** A batch step stopped for this run (BATCH_UNMATCHED, BATCH_STAGING_FAILED); the run's other steps go on. */
  'batch:stopped': [{ step: string; code: string; message: string; hint?: string }];
  /** The run ended while batch jobs were still running at Vertex (`--no-wait`, or stopped): the next run collects them. */
  'batches:left': [{ count: number; requests: number }];
  'run:waiting': [{ reason: string; untilMs: number }];
  'run:stopping': [{ reason: string }];
  /** The run stopped while video operations were still running at Vertex: their names are saved, a resume polls them. */
  'operations:left': [{ count: number }];
  'run:end': [
    {
      runId: string;
      outcome: RunOutcome;
      exitCode: number;
      counts: Record<StepState, number>;
      /** Settled spend. */
      costUsd: number;
      requests: number;
      /** Calls whose outcome is unknown (killed, timed out, cut off after sending), and the most they can have cost. */
      unsettledCalls: number;
      unsettledMaxUsd: number;
      durationMs: number;
      resultsFile?: string;
    },
  ];
}

export type RunOutcome = 'finished' | 'failed_items' | 'batch_stopped' | 'budget' | 'cancelled' | 'stalled' | 'no_projects' | 'disk_full';

export const OUTCOME_EXIT_CODES: Record<RunOutcome, number> = {
  finished: 0,
  failed_items: 1,
  // A batch step stopped (output lines it could not match, staging that failed): a person must look.
  batch_stopped: 1,
  budget: 3,
  cancelled: 4,
  stalled: 75,
  no_projects: 1,
  // A temporary failure, like a stall: free space, then resume.
  disk_full: 75,
};
