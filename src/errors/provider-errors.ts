import { GenbatchError } from './genbatch-error.js';

/**
 * Errors from a model call, after classification (see src/resilience/classify-error.ts).
 * They steer the scheduler: a quota error cools a project down without using an attempt,
 * a credential error disables the project, an invalid request fails the step at once.
 */
export interface ProviderErrorDetails {
  httpStatus?: number;
  apiStatus?: string;
  retryAfterMs?: number;
  /** The reply's finish reason, when a reply arrived (Gemini's Candidate.finishReason). */
  finishReason?: string;
  cause?: unknown;
}

export abstract class ProviderError extends GenbatchError {
  readonly httpStatus: number | undefined;
  readonly apiStatus: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly finishReason: string | undefined;

  protected constructor(message: string, code: string, retryable: boolean, hint: string, details: ProviderErrorDetails) {
    super(message, { code, retryable, hint, cause: details.cause });
    this.httpStatus = details.httpStatus;
    this.apiStatus = details.apiStatus;
    this.retryAfterMs = details.retryAfterMs;
    this.finishReason = details.finishReason;
  }
}

/** 429 RESOURCE_EXHAUSTED: the project (or shared capacity) is out of quota for now. */
export class QuotaExhaustedError extends ProviderError {
  /** True when the message names a per-day quota: the project is out until its daily reset. */
  readonly perDay: boolean;
  /** True when the body names the quota it hit (a QuotaFailure detail or a quota metric): a fixed, per-project quota. */
  readonly namesQuota: boolean;
  /** The window of the quota the body names (its metric says per minute…), for learning the rate when none is declared. */
  readonly quotaWindowMs: number | undefined;
  /** The quota's limit, when the body states it (the Gemini API's QuotaFailure `quotaValue`). */
  readonly quotaLimit: number | undefined;
  constructor(message: string, details: ProviderErrorDetails & { perDay?: boolean; namesQuota?: boolean; quotaWindowMs?: number; quotaLimit?: number }) {
    super(
      message,
      'QUOTA_EXHAUSTED',
      true,
      'The project cools down and the item moves to another project; add projects or raise quotas to go faster.',
      details,
    );
    this.perDay = details.perDay ?? false;
    this.namesQuota = details.namesQuota ?? false;
    this.quotaWindowMs = details.quotaWindowMs;
    this.quotaLimit = details.quotaLimit;
  }
}

/** 401/403: the credential is rejected or the API is not enabled. The project is disabled for the run. */
export class CredentialRejectedError extends ProviderError {
  constructor(message: string, details: ProviderErrorDetails) {
    super(
      message,
      'CREDENTIAL_REJECTED',
      false,
      'Check the key or service account of this project and that the Vertex AI API is enabled, then resume.',
      details,
    );
  }
}

/**
 * 404 (or 403) for the model alone: this project cannot use this model (not found, not enabled, not
 * offered in its region or on its API). Its other models are fine; the model is left out on this
 * project for the run, and the step's `fallback:` models take over when no project can serve it.
 */
export class ModelUnavailableError extends ProviderError {
  constructor(message: string, details: ProviderErrorDetails) {
    super(
      message,
      'MODEL_UNAVAILABLE',
      false,
      'Check the model name and that the project has access to it (Model Garden, region), or give the step `fallback:` models.',
      details,
    );
  }
}

/** 400 INVALID_ARGUMENT / FAILED_PRECONDITION and other 4xx: the same request will fail again. */
export class InvalidRequestError extends ProviderError {
  constructor(message: string, details: ProviderErrorDetails) {
    super(message, 'INVALID_REQUEST', false, 'Fix the step (model name, parameters, prompt) and retry the failed items.', details);
  }
}

/** 5xx, timeouts, connection resets: worth another attempt after a backoff. */
export class TransientError extends ProviderError {
  constructor(message: string, details: ProviderErrorDetails, code = 'TRANSIENT', hint = 'Retried with backoff up to limits.max_attempts.') {
    super(message, code, true, hint, details);
  }
}

/**
 * The project's endpoint could not be reached at all (connection refused, DNS, no route): nothing was
 * sent. Not the item's fault: the project waits and probes, and the item waits for it (no attempt used).
 */
export class EndpointUnreachableError extends TransientError {
  constructor(message: string, details: ProviderErrorDetails) {
    super(
      message,
      details,
      'ENDPOINT_UNREACHABLE',
      'The project waits and is probed again; after limits.max_outage (default 10m) the run stalls (exit 75) and can be resumed.',
    );
  }
}

/**
 * The request was sent but no reply came (a timeout, a connection lost after sending): Vertex may
 * have billed it. Retried like a transient error; its ledger row stays unsettled, counted at the
 * call's worst case, because what it cost can never be known.
 */
export class OutcomeUnknownError extends TransientError {
  constructor(message: string, details: ProviderErrorDetails) {
    super(
      message,
      details,
      'OUTCOME_UNKNOWN',
      'Retried with backoff; the lost call counts at its worst case in the budget and in `genbatch status` (it may have been billed).',
    );
  }
}

/**
 * Vertex answered 200 but its HTTP body cannot be read (cut off, not JSON): the call was billed for
 * usage nobody can read. Retried like a bad reply, and counted at the call's worst case, as a lost
 * call is (reactions table: billed `unknown`).
 */
export class UnreadableReplyError extends ProviderError {
  constructor(message: string, details: ProviderErrorDetails = {}) {
    super(
      message,
      'REPLY_UNREADABLE',
      true,
      'Retried with backoff; the unreadable reply counts at its worst case in the budget and in `genbatch status` (it was probably billed).',
      details,
    );
  }
}

/** The reply arrived but cannot be used (invalid JSON, no image): retried a few times, then the step fails. */
export class BadResponseError extends ProviderError {
  constructor(message: string, details: ProviderErrorDetails = {}) {
    super(message, 'BAD_RESPONSE', true, 'The model replied with something unusable; it is retried, then the step fails with this reason.', details);
  }
}

/**
 * An image of a reply that does not decode (its base64 cut off or garbled): found where outputs are
 * written, before the step is done; a billed bad reply like any other, retried.
 */
export class UndecodableImageError extends BadResponseError {}

/**
 * A text or JSON reply cut at max_output_tokens (finish reason MAX_TOKENS), on a step that does not
 * say `on_truncated: keep`. Billed, and not retried: the same request with the same settings is cut
 * again (and billed again); the step fails so that its settings can be changed.
 */
export class TruncatedReplyError extends ProviderError {
  constructor(message: string, details: ProviderErrorDetails = {}) {
    super(
      message,
      'TRUNCATED',
      false,
      'Raise max_output_tokens or lower the thinking budget (params.thinking_budget) of this step, then `genbatch retry JOB --failed`; or set `on_truncated: keep` to accept cut replies.',
      { finishReason: 'MAX_TOKENS', ...details },
    );
  }
}
