import { GenbatchError } from './genbatch-error.js';

/**
 * An output failed its step's checks (issue 28) after every regeneration `on_fail.regenerate` allows,
 * and the step says `then: fail`. Not retried by the engine: its regenerations were the retries.
 */
export class ChecksFailedError extends GenbatchError {
  constructor(message: string) {
    super(message, {
      code: 'CHECKS_FAILED',
      retryable: false,
      hint: 'See why in `genbatch status` or the review page; raise on_fail.regenerate, loosen the checks or set `then: keep | review`, then `genbatch retry JOB --failed`.',
    });
  }
}

/** A judge's call cannot be held against the budget: the paid reply is kept and the run stops for the budget. */
export class JudgeUnaffordableError extends GenbatchError {
  constructor(readonly worstCaseUsd: number) {
    super(`The budget leaves no room for the judge's call (up to $${worstCaseUsd.toFixed(4)}).`, { code: 'BUDGET_EXHAUSTED', retryable: false });
  }
}

/**
 * A judge gave no verdict (its calls failed, no project could take them, or the run stopped while it
 * waited): that says nothing about the output, so it is not regenerated. The paid reply is kept and
 * the step retried within limits.max_attempts, judging the kept reply again without a new call.
 */
export class JudgeUnavailableError extends GenbatchError {
  constructor(message: string) {
    super(message, {
      code: 'JUDGE_UNAVAILABLE',
      retryable: true,
      hint: "The output is kept: `genbatch retry JOB --failed` judges it again without generating it anew. Check the judge's model and projects (`genbatch status`).",
    });
  }
}
