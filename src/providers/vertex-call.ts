import type { HttpOptions } from '@google/genai';
import { BadResponseError, type ProviderErrorDetails } from '../errors/provider-errors.js';
import { classifyError } from '../resilience/classify-error.js';
import type { ProviderRequest, Usage } from './provider.js';

/** What every provider does around an SDK call: pass cancellation and timeout, classify failures. */

/** The per-call HTTP options: only the timeout (SDK retries stay off; the engine owns retries). */
export function httpOptionsFor(request: Pick<ProviderRequest, 'timeoutMs'>): { httpOptions?: HttpOptions } {
  return request.timeoutMs === undefined ? {} : { httpOptions: { timeout: request.timeoutMs } };
}

/**
 * The signal of one SDK call: it aborts when the request's timeout passes or its own signal aborts,
 * and is disposed as soon as the call ends. The SDK's own `httpOptions.timeout` is not used for
 * calls: @google/genai 2 leaves it armed after a successful call (so that it also bounds reading the
 * reply), which keeps a timer, an AbortController and two closures alive per call for the whole
 * timeout: some 60,000 of them, and tens of MB, at 500 calls a second with the 2-minute default.
 * The SDK still hangs a listener on the signal it is given; this one is dropped with it.
 */
function callSignal(request: Pick<ProviderRequest, 'timeoutMs' | 'signal'> | undefined): { signal?: AbortSignal; dispose: () => void } {
  const timeoutMs = request?.timeoutMs;
  const outer = request?.signal;
  if (timeoutMs === undefined && outer === undefined) return { dispose: () => undefined };
  const controller = new AbortController();
  // Aborted without a reason, as the SDK's timeout does: fetch then rejects with an AbortError.
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => controller.abort(), timeoutMs);
  timer?.unref();
  const onAbort = (): void => controller.abort(outer?.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * Runs an SDK call, giving it the abort signal to pass as `config.abortSignal` (see callSignal) when
 * `request` is given; whatever it throws leaves here classified (src/resilience/classify-error.ts).
 */
export async function callVertex<T>(
  call: (abortSignal: AbortSignal | undefined) => Promise<T>,
  request?: Pick<ProviderRequest, 'timeoutMs' | 'signal'>,
): Promise<T> {
  const { signal, dispose } = callSignal(request);
  try {
    return await call(signal);
  } catch (error) {
    throw classifyError(error);
  } finally {
    dispose();
  }
}

/** A BadResponseError for a reply that was billed: the usage rides along for the ledger. */
export type BilledBadResponseError = BadResponseError & { usage: Usage };

export function badResponse(message: string, usage: Usage, details: ProviderErrorDetails = {}): BilledBadResponseError {
  return Object.assign(new BadResponseError(message, { httpStatus: 200, ...details }), { usage });
}
