import { ApiError } from '@google/genai';
import { GenbatchError } from '../errors/genbatch-error.js';
import {
  CredentialRejectedError,
  EndpointUnreachableError,
  InvalidRequestError,
  ModelUnavailableError,
  OutcomeUnknownError,
  QuotaExhaustedError,
  TransientError,
  UnreadableReplyError,
  type ProviderErrorDetails,
} from '../errors/provider-errors.js';

/**
 * The one place where errors from Vertex, the SDK and the network become genbatch's typed errors.
 * Vertex's canonical status (`error.status` in the body) decides first, then the HTTP code, then
 * the network error code; anything unrecognised fails the step rather than retrying blindly.
 */
type ErrorKind = 'quota' | 'credential' | 'invalid' | 'transient';

/** Canonical Google API statuses (google.rpc.Code names). */
const BY_API_STATUS: Record<string, ErrorKind> = {
  RESOURCE_EXHAUSTED: 'quota',
  UNAUTHENTICATED: 'credential',
  PERMISSION_DENIED: 'credential',
  INVALID_ARGUMENT: 'invalid',
  FAILED_PRECONDITION: 'invalid',
  OUT_OF_RANGE: 'invalid',
  NOT_FOUND: 'invalid',
  ALREADY_EXISTS: 'invalid',
  UNIMPLEMENTED: 'invalid',
  UNAVAILABLE: 'transient',
  INTERNAL: 'transient',
  DEADLINE_EXCEEDED: 'transient',
  ABORTED: 'transient',
  UNKNOWN: 'transient',
  CANCELLED: 'transient',
};

const BY_HTTP_STATUS: Record<number, ErrorKind> = {
  400: 'invalid',
  401: 'credential',
  403: 'credential',
  404: 'invalid',
  408: 'transient',
  409: 'transient',
  413: 'invalid',
  429: 'quota',
  499: 'transient',
  500: 'transient',
  502: 'transient',
  503: 'transient',
  504: 'transient',
};

/** google.rpc.Code numbers, as found in a failed long-running operation's `error.code`. */
const GRPC_CODE_NAMES: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
  16: 'UNAUTHENTICATED',
};

/** Socket and undici failures: the request may not have reached Vertex, another attempt can help. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RESPONSE_STATUS_CODE',
  'UND_ERR_ABORTED',
]);

/** API keys, OAuth tokens and key query parameters, removed from every message we produce. */
const SECRET_PATTERNS: [RegExp, string][] = [
  [/([?&](?:key|api_key|apikey|access_token|token)=)[^&\s"']+/gi, '$1[redacted]'],
  [/(x-goog-api-key["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, '$1[redacted]'],
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, '$1[redacted]'],
  [/AIza[0-9A-Za-z_-]{20,}/g, '[redacted-key]'],
  [/ya29\.[0-9A-Za-z_.-]+/g, '[redacted-token]'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[redacted-private-key]'],
  // A user name and password in a URL (http://user:secret@host).
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi, '$1[redacted]@'],
];

export function redactSecrets(text: string): string {
  return SECRET_PATTERNS.reduce((result, [pattern, replacement]) => result.replace(pattern, replacement), text);
}

interface VertexErrorBody {
  code?: number;
  message?: string;
  status?: string;
  details?: unknown[];
}

/** The `error` object of a Vertex error body; the SDK puts the body's JSON text in `message`. */
function parseBody(message: string): VertexErrorBody | undefined {
  try {
    const parsed = JSON.parse(message) as { error?: VertexErrorBody };
    return parsed && typeof parsed.error === 'object' && parsed.error !== null ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}

function detailsOfType(details: unknown[] | undefined, suffix: string): Record<string, unknown>[] {
  return (details ?? []).filter(
    (d): d is Record<string, unknown> => typeof d === 'object' && d !== null && String((d as Record<string, unknown>)['@type'] ?? '').endsWith(suffix),
  );
}

/** RetryInfo's `retryDelay` is a protobuf Duration in JSON: "12s", "0.734s". */
function retryDelayMs(details: unknown[] | undefined): number | undefined {
  for (const info of detailsOfType(details, 'google.rpc.RetryInfo')) {
    const delay = info.retryDelay;
    const match = typeof delay === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(delay) : null;
    if (match) return Math.ceil(Number(match[1]) * 1000);
    if (typeof delay === 'object' && delay !== null) {
      const { seconds, nanos } = delay as { seconds?: number | string; nanos?: number };
      return Math.ceil(Number(seconds ?? 0) * 1000 + Number(nanos ?? 0) / 1e6);
    }
  }
  return undefined;
}

/** A per-day quota: the project stays out until its daily reset, so it is not worth re-trying soon. */
function namesPerDayQuota(message: string, details: unknown[] | undefined): boolean {
  if (/per[_ -]?day|daily|requests_per_day|PerDay/i.test(message)) return true;
  return detailsOfType(details, 'google.rpc.QuotaFailure').some((failure) => /per[_ -]?day|PerDay/i.test(JSON.stringify(failure)));
}

/**
 * A 429 that names the quota it hit is a per-project (fixed) quota: Vertex's "Quota exceeded for
 * quota metric '…'" or a QuotaFailure detail. Dynamic shared quota answers a bare "Resource
 * exhausted. Please try again later." with no details.
 */
function namesQuota(message: string, details: unknown[] | undefined): boolean {
  if (/quota metric|Quota exceeded for|quota_limit|quotaMetric|quota_metric/i.test(message)) return true;
  return detailsOfType(details, 'google.rpc.QuotaFailure').length > 0;
}

/** The window a quota's name gives: `…_per_minute_…`, `PerMinute`, or the emulator's time-scaled `…_per_1000ms_…`. */
function windowNamed(name: string): number | undefined {
  const scaled = /per[_ ]?(\d+)[_ ]?ms/i.exec(name);
  if (scaled) return Number(scaled[1]);
  if (/per[_ ]?minute/i.test(name)) return 60_000;
  if (/per[_ ]?second/i.test(name)) return 1000;
  if (/per[_ ]?hour/i.test(name)) return 3_600_000;
  return undefined;
}

/**
 * What a fixed-quota 429 says of its request quota: the window its metric names (Vertex's message,
 * "…generate_content_requests_per_minute_per_project_per_base_model…"; the Gemini API's quota id,
 * "GenerateRequestsPerMinutePerProjectPerModel") and the limit when stated (the Gemini API's
 * `quotaValue`). Token quotas are left out: the learned pacing spaces requests.
 */
function namedRequestQuota(message: string, details: unknown[] | undefined): { quotaWindowMs?: number; quotaLimit?: number } {
  for (const failure of detailsOfType(details, 'google.rpc.QuotaFailure')) {
    const violations = Array.isArray(failure.violations) ? (failure.violations as Record<string, unknown>[]) : [];
    for (const v of violations) {
      const name = `${String(v.quotaId ?? '')} ${String(v.quotaMetric ?? '')}`;
      if (!/request/i.test(name) || /token/i.test(name)) continue;
      const windowMs = windowNamed(String(v.quotaId ?? '')) ?? windowNamed(String(v.quotaMetric ?? ''));
      const limit = Number(v.quotaValue);
      if (windowMs === undefined) continue;
      return { quotaWindowMs: windowMs, ...(Number.isInteger(limit) && limit > 0 ? { quotaLimit: limit } : {}) };
    }
  }
  // Vertex's "Quota exceeded for aiplatform.googleapis.com/<metric> with …", or "for quota metric '<name>'".
  const metric = /Quota exceeded for (?:quota metric '([^']+)'|(?:metric: )?([\w./-]+))/i.exec(message);
  const named = metric?.[1] ?? metric?.[2];
  const windowMs = named === undefined ? undefined : windowNamed(named);
  return windowMs === undefined ? {} : { quotaWindowMs: windowMs };
}

/**
 * Failures of the credential itself before anything was sent: a service-account key that does not
 * parse or sign (node:crypto, google-auth-library), no Application Default Credentials, or the
 * token endpoint refusing the key. Every call of the project would fail the same way, so the
 * project is disabled, as for a 403, instead of failing its items one by one.
 */
function isClientCredentialFailure(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^ERR_(OSSL|CRYPTO)_/.test(code)) return true;
  if (
    /private key|client_email|key must be a string, a buffer or an object|DECODER routines|PEM routines|asn1|Could not load the default credentials|Could not refresh access token|invalid_grant|unauthorized_client|invalid_client|service account/i.test(
      error.message,
    )
  ) {
    return true;
  }
  // The OAuth token endpoint refusing the key: a GaxiosError with the token URL and a 4xx.
  const response = (error as { response?: { status?: unknown } }).response;
  const url = String((error as { config?: { url?: unknown } }).config?.url ?? '');
  return typeof response?.status === 'number' && response.status >= 400 && response.status < 500 && /oauth2|\/token\b/.test(url);
}

/**
 * A 404 or 403 about the model itself, not the project or the key: Vertex's "Publisher Model
 * `projects/…/models/M` was not found or your project does not have access to it", the Gemini API's
 * "models/M is not found for API version …", or a permission denied on the model resource.
 */
function namesUnavailableModel(httpStatus: number, message: string): boolean {
  if (httpStatus === 404)
    return /Publisher Model|models\/[^\s`'"]+ is not found|model .* (was )?not found|does not have access to (it|the model)/i.test(message);
  // Vertex's IAM 403 names the model's resource too ("Permission '…' denied on resource '…/models/M'"):
  // that one is the credential's, and disables the project. Only a refusal of the model itself counts here.
  if (httpStatus === 403) return !/Permission '/.test(message) && /\bmodel\b[^.]*\b(is not enabled|not allowed|not available|not supported)\b/i.test(message);
  return false;
}

/** A 400 that is really a rejected key ("API key not valid", reason API_KEY_INVALID). */
function isInvalidKey(message: string, details: unknown[] | undefined): boolean {
  if (/API key not valid|API_KEY_INVALID|API key expired/i.test(message)) return true;
  return detailsOfType(details, 'google.rpc.ErrorInfo').some((info) => /API_KEY_(INVALID|EXPIRED)/.test(String(info.reason ?? '')));
}

function build(kind: ErrorKind, message: string, details: ProviderErrorDetails & { perDay?: boolean; namesQuota?: boolean }): GenbatchError {
  switch (kind) {
    case 'quota':
      return new QuotaExhaustedError(message, details);
    case 'credential':
      return new CredentialRejectedError(message, details);
    case 'invalid':
      return new InvalidRequestError(message, details);
    case 'transient':
      return new TransientError(message, details);
  }
}

/** An Error that keeps the original's name and (redacted) message, without its secrets. */
function safeCause(error: unknown): Error | undefined {
  if (!(error instanceof Error)) return undefined;
  const copy = new Error(redactSecrets(error.message));
  copy.name = error.name;
  const code = networkCode(error);
  if (code) Object.assign(copy, { code });
  return copy;
}

function classifyApiError(error: ApiError): GenbatchError {
  const httpStatus = error.status;
  const body = parseBody(error.message);
  const apiStatus = typeof body?.status === 'string' && body.status !== '' ? body.status : undefined;
  const text = redactSecrets(body?.message ?? error.message);
  const details = body?.details;
  let kind: ErrorKind = (apiStatus ? BY_API_STATUS[apiStatus] : undefined) ?? BY_HTTP_STATUS[httpStatus] ?? (httpStatus >= 500 ? 'transient' : 'invalid');
  if (kind === 'invalid' && isInvalidKey(text, details)) kind = 'credential';
  const retryAfterMs = kind === 'quota' || kind === 'transient' ? retryDelayMs(details) : undefined;
  const perDay = kind === 'quota' && namesPerDayQuota(text, details);
  const label = [httpStatus, apiStatus].filter(Boolean).join(' ');
  if (namesUnavailableModel(httpStatus, text)) {
    return new ModelUnavailableError(`Vertex AI answered ${label}: ${text}`, {
      httpStatus,
      ...(apiStatus === undefined ? {} : { apiStatus }),
      cause: safeCause(error),
    });
  }
  const wait = retryAfterMs === undefined ? '' : ` (retry after ${(retryAfterMs / 1000).toFixed(1)} s)`;
  return build(kind, `Vertex AI answered ${label}: ${text}${wait}`, {
    httpStatus,
    ...(apiStatus === undefined ? {} : { apiStatus }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    perDay,
    namesQuota: kind === 'quota' && namesQuota(text, details),
    ...(kind === 'quota' && !perDay ? namedRequestQuota(text, details) : {}),
    cause: safeCause(error),
  });
}

function networkCode(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('UND_ERR'))) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Failures before the request could reach Vertex (no connection): nothing was sent, nothing billed. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_CONNECT_TIMEOUT']);

function isAbort(error: Error): boolean {
  return error.name === 'AbortError' || error.name === 'TimeoutError' || /operation was aborted|aborted due to timeout/i.test(error.message);
}

/**
 * Maps anything a provider call can throw to a GenbatchError. Already-classified errors pass through.
 * Messages never carry API keys or tokens (query parameters, headers and key-shaped strings are redacted).
 */
export function classifyError(error: unknown): GenbatchError {
  if (error instanceof GenbatchError) return error;
  if (error instanceof ApiError || (error instanceof Error && error.name === 'ApiError' && typeof (error as { status?: unknown }).status === 'number')) {
    return classifyApiError(error as ApiError);
  }
  if (error instanceof Error) {
    const message = redactSecrets(error.message);
    const code = networkCode(error);
    if (code && NOT_SENT_CODES.has(code))
      return new EndpointUnreachableError(`Network error talking to Vertex AI (${code}): ${message}`, { cause: safeCause(error) });
    // Past the connection, the request may have reached Vertex and been billed: the outcome is unknown.
    if (code) return new OutcomeUnknownError(`Network error talking to Vertex AI (${code}): ${message}`, { cause: safeCause(error) });
    if (isAbort(error)) return new OutcomeUnknownError('The request to Vertex AI was aborted: it timed out or was cancelled.', { cause: safeCause(error) });
    if (error instanceof TypeError && /fetch failed|terminated|network/i.test(error.message)) {
      const inner = error.cause instanceof Error ? `: ${redactSecrets(error.cause.message)}` : '';
      return new OutcomeUnknownError(`Network error talking to Vertex AI (${message}${inner}).`, { cause: safeCause(error) });
    }
    if (isClientCredentialFailure(error)) {
      return new CredentialRejectedError(`The credentials of this project could not be used: ${message}`, { cause: safeCause(error) });
    }
    // The HTTP body of a 2xx did not parse (error bodies become ApiErrors above): cut off, its usage unreadable.
    if (error instanceof SyntaxError)
      return new UnreadableReplyError(`Vertex AI answered 200 with a reply that cannot be read (not valid JSON, cut off?): ${message}`, {
        httpStatus: 200,
        cause: safeCause(error),
      });
    // The SDK checks requests client-side and throws plain Errors: the same call would fail again.
    return new InvalidRequestError(`The request was refused before it was sent: ${message}`, { cause: safeCause(error) });
  }
  return new InvalidRequestError(`Unexpected failure calling Vertex AI: ${redactSecrets(String(error))}`, {});
}

/** A failed long-running operation's `error` ({code, message}), classified like an HTTP error. */
export function classifyOperationError(operationError: Record<string, unknown>, operationName: string): GenbatchError {
  const code = typeof operationError.code === 'number' ? operationError.code : 2;
  const apiStatus = GRPC_CODE_NAMES[code] ?? 'UNKNOWN';
  const text = redactSecrets(typeof operationError.message === 'string' ? operationError.message : 'no message');
  const kind = BY_API_STATUS[apiStatus] ?? 'transient';
  return build(kind, `Vertex AI operation ${operationName} failed with ${apiStatus}: ${text}`, {
    apiStatus,
    perDay: kind === 'quota' && namesPerDayQuota(text, operationError.details as unknown[] | undefined),
  });
}
