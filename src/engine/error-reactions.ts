import { ChecksFailedError, JudgeUnavailableError } from '../errors/checks-failed-error.js';
import type { GenbatchError } from '../errors/genbatch-error.js';
import {
  BadResponseError,
  CredentialRejectedError,
  EndpointUnreachableError,
  InvalidRequestError,
  ModelUnavailableError,
  OutcomeUnknownError,
  QuotaExhaustedError,
  TransientError,
  TruncatedReplyError,
  UnreadableReplyError,
} from '../errors/provider-errors.js';

/** What the engine does with a unit whose call failed, and with the project that served it. */
export interface Reaction {
  /** Whether the failure uses one of the step's `limits.max_attempts`. */
  countsAttempt: boolean;
  /**
   * The project: cool it down for this model (429), disable it for the run (401/403), hold it while
   * its endpoint is unreachable (probed again, up to limits.max_outage), leave the model out on it
   * for the run (404/403 for the model alone: fallback models take over), or leave it.
   */
  project: 'cooldown' | 'disable' | 'outage' | 'model_unavailable' | 'none';
  /**
   * The unit: `requeue` goes straight back to its lane for another project (no backoff), `retry`
   * waits a backoff (or the server's Retry-After) outside any worker, `fail` ends the step.
   */
  unit: 'requeue' | 'retry' | 'fail';
  /**
   * What the failed call cost: `no` (refused, nothing billed), `usage` (the reply arrived but was
   * unusable: billed for its usage), `unknown` (sent, no reply: its ledger row stays unsettled and
   * counts at the call's worst case).
   */
  billed: 'no' | 'usage' | 'unknown';
}

/**
 * The one table of how the engine reacts to each error class. Order matters: the first class the
 * error is an instance of wins. Anything unlisted is retried
 * with backoff when it says it is retryable, else it fails the step.
 */
export const ERROR_REACTIONS: readonly (readonly [new (...args: never[]) => GenbatchError, Reaction])[] = [
  [QuotaExhaustedError, { countsAttempt: false, project: 'cooldown', unit: 'requeue', billed: 'no' }],
  [CredentialRejectedError, { countsAttempt: false, project: 'disable', unit: 'requeue', billed: 'no' }],
  [ModelUnavailableError, { countsAttempt: false, project: 'model_unavailable', unit: 'requeue', billed: 'no' }],
  [EndpointUnreachableError, { countsAttempt: false, project: 'outage', unit: 'requeue', billed: 'no' }],
  [OutcomeUnknownError, { countsAttempt: true, project: 'none', unit: 'retry', billed: 'unknown' }],
  // A 200 whose body cannot be read: billed, for usage nobody can read.
  [UnreadableReplyError, { countsAttempt: true, project: 'none', unit: 'retry', billed: 'unknown' }],
  [TransientError, { countsAttempt: true, project: 'none', unit: 'retry', billed: 'no' }],
  [TruncatedReplyError, { countsAttempt: true, project: 'none', unit: 'fail', billed: 'usage' }],
  [BadResponseError, { countsAttempt: true, project: 'none', unit: 'retry', billed: 'usage' }],
  [InvalidRequestError, { countsAttempt: true, project: 'none', unit: 'fail', billed: 'no' }],
  // An output that failed its checks once on_fail's regenerations are spent (then: fail): billed for its usage, not retried.
  [ChecksFailedError, { countsAttempt: true, project: 'none', unit: 'fail', billed: 'usage' }],
  // A judge gave no verdict: the paid reply is kept and judged again on a retry (no new generation), within max_attempts.
  [JudgeUnavailableError, { countsAttempt: true, project: 'none', unit: 'retry', billed: 'usage' }],
];

/**
 * A 429 of shared capacity (Vertex's dynamic shared quota: a bare 429 for a Gemini model with no
 * declared quota): no project cools down, no attempt is used, the unit waits a short backoff with
 * jitter (1 s doubling to 60 s) and is sent again; the adaptive window of the model and location
 * has shrunk meanwhile. The kind of a 429 is decided in src/resilience/quota-kind.ts.
 */
export const SHARED_CAPACITY_REACTION: Reaction = { countsAttempt: false, project: 'none', unit: 'retry', billed: 'no' };

export function reactionTo(error: GenbatchError): Reaction {
  for (const [errorClass, reaction] of ERROR_REACTIONS) if (error instanceof errorClass) return reaction;
  // Unlisted: the error's own retryable flag decides between a backoff and failing the step.
  return { countsAttempt: true, project: 'none', unit: error.retryable ? 'retry' : 'fail', billed: 'no' };
}
