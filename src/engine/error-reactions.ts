import type { GenbatchError } from '../errors/genbatch-error.js';
import { BadResponseError, CredentialRejectedError, InvalidRequestError, QuotaExhaustedError, TransientError } from '../errors/provider-errors.js';

/** What the engine does with a unit whose call failed, and with the project that served it. */
export interface Reaction {
  /** Whether the failure uses one of the step's `limits.max_attempts`. */
  countsAttempt: boolean;
  /** The project: cool it down for this model (429), disable it for the run (401/403), or leave it. */
  project: 'cooldown' | 'disable' | 'none';
  /**
   * The unit: `requeue` goes straight back to its lane for another project (no backoff), `retry`
   * waits a backoff (or the server's Retry-After) outside any worker, `fail` ends the step.
   */
  unit: 'requeue' | 'retry' | 'fail';
  /** Whether the reply was billed (it arrived, but was unusable) and so goes to the ledger at cost. */
  billed: boolean;
}

/**
 * The one table of how the engine reacts to each error class. Order matters: the first class the
 * error is an instance of wins. Anything unlisted is retried
 * with backoff when it says it is retryable, else it fails the step.
 */
export const ERROR_REACTIONS: readonly (readonly [new (...args: never[]) => GenbatchError, Reaction])[] = [
  [QuotaExhaustedError, { countsAttempt: false, project: 'cooldown', unit: 'requeue', billed: false }],
  [CredentialRejectedError, { countsAttempt: false, project: 'disable', unit: 'requeue', billed: false }],
  [TransientError, { countsAttempt: true, project: 'none', unit: 'retry', billed: false }],
  [BadResponseError, { countsAttempt: true, project: 'none', unit: 'retry', billed: true }],
  [InvalidRequestError, { countsAttempt: true, project: 'none', unit: 'fail', billed: false }],
];

export function reactionTo(error: GenbatchError): Reaction {
  for (const [errorClass, reaction] of ERROR_REACTIONS) if (error instanceof errorClass) return reaction;
  // Unlisted: the error's own retryable flag decides between a backoff and failing the step.
  return { countsAttempt: true, project: 'none', unit: error.retryable ? 'retry' : 'fail', billed: false };
}
