import type { HttpOptions } from '@google/genai';
import { BadResponseError, type ProviderErrorDetails } from '../errors/provider-errors.js';
import { classifyError } from '../resilience/classify-error.js';
import type { ProviderRequest, Usage } from './provider.js';

/** What every provider does around an SDK call: pass cancellation and timeout, classify failures. */

/** The per-call HTTP options: only the timeout (SDK retries stay off; the engine owns retries). */
export function httpOptionsFor(request: Pick<ProviderRequest, 'timeoutMs'>): { httpOptions?: HttpOptions } {
  return request.timeoutMs === undefined ? {} : { httpOptions: { timeout: request.timeoutMs } };
}

/** `abortSignal` and `httpOptions` for an SDK config object, when the request has them. */
export function callOptions(request: Pick<ProviderRequest, 'timeoutMs' | 'signal'>): { httpOptions?: HttpOptions; abortSignal?: AbortSignal } {
  return { ...httpOptionsFor(request), ...(request.signal === undefined ? {} : { abortSignal: request.signal }) };
}

/** Runs an SDK call; whatever it throws leaves here classified (src/resilience/classify-error.ts). */
export async function callVertex<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw classifyError(error);
  }
}

/** A BadResponseError for a reply that was billed: the usage rides along for the ledger. */
export type BilledBadResponseError = BadResponseError & { usage: Usage };

export function badResponse(message: string, usage: Usage, details: ProviderErrorDetails = {}): BilledBadResponseError {
  return Object.assign(new BadResponseError(message, { httpStatus: 200, ...details }), { usage });
}
