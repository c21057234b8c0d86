import { ApiError } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenbatchError } from '../../src/errors/genbatch-error.js';
import {
  BadResponseError,
  CredentialRejectedError,
  InvalidRequestError,
  ModelUnavailableError,
  QuotaExhaustedError,
  TransientError,
  UnreadableReplyError,
} from '../../src/errors/provider-errors.js';
import { reactionTo } from '../../src/engine/error-reactions.js';
import { GeminiTextProvider } from '../../src/providers/gemini-text.js';
import type { ProviderRequest } from '../../src/providers/provider.js';
import { classifyError, classifyOperationError, redactSecrets } from '../../src/resilience/classify-error.js';
import { startTestEmulator, vertexClient, type TestEmulator } from '../helpers/emulator-client.js';

/** An ApiError exactly as the SDK builds it: the HTTP status and the body's JSON text. */
function apiError(status: number, error: Record<string, unknown>): ApiError {
  return new ApiError({ status, message: JSON.stringify({ error }) });
}

const KEY = 'AIzaSyD-abcdefghijklmnopqrstuvwxyz012345';

describe('classifyError: the table', () => {
  it.each([
    [429, 'RESOURCE_EXHAUSTED', QuotaExhaustedError, true],
    [401, 'UNAUTHENTICATED', CredentialRejectedError, false],
    [403, 'PERMISSION_DENIED', CredentialRejectedError, false],
    [400, 'INVALID_ARGUMENT', InvalidRequestError, false],
    [400, 'FAILED_PRECONDITION', InvalidRequestError, false],
    [404, 'NOT_FOUND', InvalidRequestError, false],
    [500, 'INTERNAL', TransientError, true],
    [502, '', TransientError, true],
    [503, 'UNAVAILABLE', TransientError, true],
    [504, 'DEADLINE_EXCEEDED', TransientError, true],
  ])('HTTP %i %s → %o', (status, apiStatus, type, retryable) => {
    const error = classifyError(apiError(status, { code: status, message: 'something', status: apiStatus }));
    expect(error).toBeInstanceOf(type);
    expect(error.retryable).toBe(retryable);
    expect(error).toMatchObject({ httpStatus: status, apiStatus: apiStatus || undefined });
  });

  it('a 404 about the model itself is ModelUnavailableError (the fallback case); an IAM 403 naming the model stays a credential problem', () => {
    const vertex = classifyError(
      apiError(404, {
        code: 404,
        status: 'NOT_FOUND',
        message:
          'Publisher Model `projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro` was not found or your project does not have access to it.',
      }),
    );
    expect(vertex).toBeInstanceOf(ModelUnavailableError);
    expect([vertex.code, vertex.retryable]).toEqual(['MODEL_UNAVAILABLE', false]);
    const gemini = classifyError(
      apiError(404, { code: 404, status: 'NOT_FOUND', message: 'models/imagen-9 is not found for API version v1beta, or is not supported for predict.' }),
    );
    expect(gemini).toBeInstanceOf(ModelUnavailableError);
    const iam = classifyError(
      apiError(403, {
        code: 403,
        status: 'PERMISSION_DENIED',
        message:
          "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/p/locations/l/publishers/google/models/m' (or it may not exist).",
      }),
    );
    expect(iam).toBeInstanceOf(CredentialRejectedError);
    // Any other 404 (a wrong path, a deleted operation) is still an invalid request.
    expect(classifyError(apiError(404, { code: 404, status: 'NOT_FOUND', message: 'Operation not found.' }))).toBeInstanceOf(InvalidRequestError);
  });

  it('reads retryAfterMs from RetryInfo and detects per-day quotas', () => {
    const window = classifyError(
      apiError(429, {
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        message: 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: imagen-3.0-generate-002.',
        details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '12.5s' }],
      }),
    ) as QuotaExhaustedError;
    expect(window).toMatchObject({ retryAfterMs: 12_500, perDay: false });
    const daily = classifyError(
      apiError(429, {
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        message: 'Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_day_per_project.',
      }),
    ) as QuotaExhaustedError;
    expect(daily.perDay).toBe(true);
    const shared = classifyError(
      apiError(429, { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'Resource exhausted, please try again later.' }),
    ) as QuotaExhaustedError;
    expect(shared).toMatchObject({ perDay: false, retryAfterMs: undefined });
  });

  it("reads the window a fixed quota's 429 names (and the Gemini API's stated limit) for the learned pacing", () => {
    const quota429 = (body: Record<string, unknown>): QuotaExhaustedError =>
      classifyError(apiError(429, { code: 429, status: 'RESOURCE_EXHAUSTED', ...body })) as QuotaExhaustedError;
    // Vertex, Gemini models (Google's words).
    const gemini = quota429({
      message:
        'Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute_per_project_per_base_model with base model: gemini-2.0-flash. Please submit a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.',
    });
    expect(gemini).toMatchObject({ namesQuota: true, quotaWindowMs: 60_000, quotaLimit: undefined });
    // The emulator's time-scaled window, named where Google names the minute.
    expect(
      quota429({ message: 'Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_1000ms_per_project_per_base_model with base model: m.' })
        .quotaWindowMs,
    ).toBe(1000);
    // Imagen's metric names no period: the learner takes it for a minute.
    expect(
      quota429({ message: 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: imagen-4.0-generate-001.' })
        .quotaWindowMs,
    ).toBeUndefined();
    // The older wording names the metric in quotes.
    expect(
      quota429({
        message: "Quota exceeded for quota metric 'Generate Content API requests per minute' and limit 'GenerateContent request limit per minute for a region'",
      }).quotaWindowMs,
    ).toBe(60_000);
    // The Gemini API: the request quota's id and value (a token quota beside it is not the one).
    const key = quota429({
      message:
        'You exceeded your current quota. * Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_requests, limit: 15, model: gemini-2.5-flash',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
          violations: [
            {
              quotaMetric: 'generativelanguage.googleapis.com/generate_content_input_token_count',
              quotaId: 'GenerateContentInputTokensPerModelPerMinute',
              quotaValue: '250000',
            },
            {
              quotaMetric: 'generativelanguage.googleapis.com/generate_content_requests',
              quotaId: 'GenerateRequestsPerMinutePerProjectPerModel',
              quotaValue: '15',
            },
          ],
        },
        { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '20s' },
      ],
    });
    expect(key).toMatchObject({ quotaWindowMs: 60_000, quotaLimit: 15, retryAfterMs: 20_000 });
    // A per-day quota is not paced: it waits for the daily reset.
    expect(quota429({ message: 'Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_day_per_project.' }).quotaWindowMs).toBeUndefined();
  });

  it('treats an invalid API key (400) as a rejected credential', () => {
    const error = classifyError(
      apiError(400, {
        code: 400,
        status: 'INVALID_ARGUMENT',
        message: 'API key not valid. Please pass a valid API key.',
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }],
      }),
    );
    expect(error).toBeInstanceOf(CredentialRejectedError);
  });

  it('maps network failures and timeouts to TransientError', () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
    expect(classifyError(refused)).toBeInstanceOf(TransientError);
    expect(classifyError(refused).message).toContain('ECONNREFUSED');
    expect(classifyError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBeInstanceOf(TransientError);
    expect(classifyError(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }))).toBeInstanceOf(TransientError);
    expect(classifyError(new DOMException('This operation was aborted', 'AbortError'))).toBeInstanceOf(TransientError);
  });

  it('passes classified errors through and fails unknown ones without retrying', () => {
    const bad = new BadResponseError('not JSON');
    expect(classifyError(bad)).toBe(bad);
    const sdkCheck = classifyError(new Error('The embedContent API for this model only supports one content at a time.'));
    expect(sdkCheck).toBeInstanceOf(InvalidRequestError);
    expect(sdkCheck.retryable).toBe(false);
    expect(classifyError('weird')).toBeInstanceOf(GenbatchError);
  });

  it('a 200 body that does not parse is an unreadable reply: retried, and counted at its worst case like a lost call', () => {
    const cut = classifyError(new SyntaxError('Unterminated string in JSON at position 512'));
    expect(cut).toBeInstanceOf(UnreadableReplyError);
    expect(cut).toMatchObject({ code: 'REPLY_UNREADABLE', retryable: true, httpStatus: 200 });
    expect(reactionTo(cut)).toEqual({ countsAttempt: true, project: 'none', unit: 'retry', billed: 'unknown' });
  });

  it('classifies failed long-running operations by their gRPC code', () => {
    expect(classifyOperationError({ code: 8, message: 'quota' }, 'op')).toBeInstanceOf(QuotaExhaustedError);
    expect(classifyOperationError({ code: 3, message: 'bad prompt' }, 'op')).toBeInstanceOf(InvalidRequestError);
    expect(classifyOperationError({ code: 13, message: 'boom' }, 'op')).toBeInstanceOf(TransientError);
  });

  it('never lets key material into messages', () => {
    const leaky = new TypeError(`fetch failed for https://aiplatform.googleapis.com/v1/x?key=${KEY}&alt=json`, {
      cause: Object.assign(new Error(`connect ETIMEDOUT with header x-goog-api-key: ${KEY}`), { code: 'ETIMEDOUT' }),
    });
    const error = classifyError(leaky);
    expect(error.message).not.toContain(KEY);
    expect(String((error.cause as Error).message)).not.toContain(KEY);
    const api = classifyError(
      apiError(403, { code: 403, status: 'PERMISSION_DENIED', message: `key ${KEY} is revoked; Authorization: Bearer ya29.a0AfH6SMBsecret` }),
    );
    expect(api.message).not.toContain(KEY);
    expect(api.message).not.toContain('ya29.a0AfH6SMBsecret');
    expect(redactSecrets('https://x/y?alt=sse&key=abc123')).toBe('https://x/y?alt=sse&key=[redacted]');
  });
});

describe('classifyError: what a provider throws against the emulator', () => {
  let t: TestEmulator;
  const provider = new GeminiTextProvider();
  const request = (prompt: string, extra: Partial<ProviderRequest> = {}): ProviderRequest => ({
    task: 'text',
    model: 'gemini-2.5-flash',
    prompt,
    params: {},
    ...extra,
  });
  const failure = (promise: Promise<unknown>): Promise<unknown> =>
    promise.then(
      () => undefined,
      (e: unknown) => e,
    );

  beforeAll(async () => {
    t = await startTestEmulator({
      projects: {
        'blog-prod': { rpm: 2 },
        'blog-overflow': { exhaust_after: 1 },
        revoked: { deny: true },
        flaky: { fail_rate_503: 1 },
        slow: { latency_ms: 400 },
      },
    });
  });
  afterAll(() => t.close());

  it('turns an rpm 429 into QuotaExhaustedError with retryAfterMs', async () => {
    const client = t.client('blog-prod');
    await provider.call(client, request('one'));
    await provider.call(client, request('two'));
    const error = await failure(provider.call(client, request('three')));
    expect(error).toBeInstanceOf(QuotaExhaustedError);
    const quota = error as QuotaExhaustedError;
    expect(quota.perDay).toBe(false);
    expect(quota.retryAfterMs).toBeGreaterThan(55_000);
    expect(quota.retryAfterMs).toBeLessThanOrEqual(60_000);
    // Vertex's real metric for Gemini models: a per-minute quota, which the learned pacing reads.
    expect(quota.message).toContain('generate_content_requests_per_minute_per_project_per_base_model');
    expect(quota.quotaWindowMs).toBe(60_000);
  });

  it('marks exhaust_after as a per-day quota', async () => {
    const client = t.client('blog-overflow');
    await provider.call(client, request('one'));
    const error = await failure(provider.call(client, request('two')));
    expect(error).toBeInstanceOf(QuotaExhaustedError);
    expect((error as QuotaExhaustedError).perDay).toBe(true);
  });

  it('turns deny into CredentialRejectedError and a 503 into TransientError', async () => {
    expect(await failure(provider.call(t.client('revoked'), request('x')))).toBeInstanceOf(CredentialRejectedError);
    const unavailable = await failure(provider.call(t.client('flaky'), request('x')));
    expect(unavailable).toBeInstanceOf(TransientError);
    expect((unavailable as TransientError).httpStatus).toBe(503);
  });

  it('turns a timeout and a refused connection into TransientError', async () => {
    const timedOut = await failure(provider.call(t.client('slow'), request('x', { timeoutMs: 50 })));
    expect(timedOut).toBeInstanceOf(TransientError);
    expect((timedOut as Error).message).toMatch(/aborted|timed out/);

    const closed = await startTestEmulator();
    const url = closed.url;
    await closed.close();
    const refused = await failure(provider.call(vertexClient(url, 'p'), request('x')));
    expect(refused).toBeInstanceOf(TransientError);
    expect((refused as Error).message).toContain('ECONNREFUSED');
  });
});
