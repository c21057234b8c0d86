import { ApiError } from '@google/genai';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { parseEmulatorConfig, type EmulatorConfigInput } from '../../src/emulator/index.js';
import { useResetEmulator } from '../helpers/emulator-client.js';

const MODEL = 'gemini-2.5-flash';
const CONFIG: EmulatorConfigInput = {
  projects: {
    'blog-batch': { requests: 3, window: '400ms' },
    'per-model': { models: { 'imagen-4.0-generate-001': { requests: 1, window: '1h' } } },
    'blog-overflow': { exhaust_after: 2 },
    revoked: { deny: true },
    flaky: { fail_rate_503: 1 },
    slow: { latency_ms: 150 },
  },
};

function modelUrl(base: string, project: string, model: string, method: string, version = 'v1beta1'): string {
  return `${base}/${version}/projects/${project}/locations/us-central1/publishers/google/models/${model}:${method}`;
}

async function post(url: string, body: unknown, headers: Record<string, string> = { 'x-goog-api-key': 'k' }): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const ask = { contents: [{ role: 'user', parts: [{ text: 'hello' }] }] };

async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('emulator faults, quotas and stats', () => {
  const t = useResetEmulator(CONFIG);

  it('requires an API key or a bearer token (401 UNAUTHENTICATED)', async () => {
    const response = await post(modelUrl(t.url, 'p', MODEL, 'generateContent'), ask, {});
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { status: string } }).error.status).toBe('UNAUTHENTICATED');
    expect((await post(modelUrl(t.url, 'p', MODEL, 'generateContent'), ask, { authorization: 'Bearer token' })).status).toBe(200);
    expect((await post(modelUrl(t.url, 'p', MODEL, 'generateContent', 'v1'), ask)).status).toBe(200);
  });

  it('answers unknown paths, methods and models with 404, bad JSON with 400, in Vertex error bodies', async () => {
    const unknownPath = await post(`${t.url}/v1beta1/nowhere`, ask);
    expect(unknownPath.status).toBe(404);
    expect(await unknownPath.json()).toMatchObject({ error: { code: 404, status: 'NOT_FOUND' } });
    expect((await post(modelUrl(t.url, 'p', MODEL, 'streamRawPredict'), ask)).status).toBe(404);
    expect((await post(modelUrl(t.url, 'p', 'no-such-model', 'generateContent'), ask)).status).toBe(404);
    const bad = await post(modelUrl(t.url, 'p', MODEL, 'generateContent'), '{"contents": [');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT' } });
  });

  it('denies a revoked project with 403 PERMISSION_DENIED', async () => {
    const error = await apiError(t.client('revoked').models.generateContent({ model: MODEL, contents: 'hi' }));
    expect(error.status).toBe(403);
    const body = JSON.parse(error.message).error;
    expect(body.status).toBe('PERMISSION_DENIED');
    expect(body.message).toContain("Permission 'aiplatform.endpoints.predict' denied on resource");
  });

  it('enforces a sliding window: 429 with RetryInfo and Retry-After, then frees the slot', async () => {
    // The window runs on Date.now in this process: a fake Date lets the retry delay pass without sleeping.
    vi.useFakeTimers({ toFake: ['Date'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const url = modelUrl(t.url, 'blog-batch', MODEL, 'generateContent');
    for (let i = 0; i < 3; i++) expect((await post(url, ask)).status).toBe(200);
    const rejected = await post(url, ask);
    expect(rejected.status).toBe(429);
    const body = ((await rejected.json()) as { error: { status: string; message: string; details: { '@type': string; retryDelay: string }[] } }).error;
    expect(body.status).toBe('RESOURCE_EXHAUSTED');
    expect(body.message).toBe(
      // Vertex's Gemini metric, its minute time-scaled to the configured 400 ms window.
      `Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_400ms_per_project_per_base_model with base model: ${MODEL}. Please submit a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.`,
    );
    const retry = body.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo');
    const delayMs = Number(retry?.retryDelay.replace(/s$/, '')) * 1000;
    expect(delayMs).toBeGreaterThan(0);
    expect(delayMs).toBeLessThanOrEqual(400);
    expect(rejected.headers.get('retry-after')).toBe('1');

    // Not a moment before the delay it gave, and right after it.
    vi.advanceTimersByTime(delayMs - 1);
    expect((await post(url, ask)).status).toBe(429);
    vi.advanceTimersByTime(1);
    expect((await post(url, ask)).status).toBe(200);
  });

  it('omits Retry-After when retry_after is false but keeps RetryInfo', async () => {
    t.emu.setConfig(parseEmulatorConfig({ ...CONFIG, retry_after: false }));
    const url = modelUrl(t.url, 'blog-batch', MODEL, 'generateContent');
    for (let i = 0; i < 3; i++) await post(url, ask);
    const rejected = await post(url, ask);
    expect(rejected.status).toBe(429);
    expect(rejected.headers.get('retry-after')).toBeNull();
    expect(JSON.stringify(await rejected.json())).toContain('google.rpc.RetryInfo');
  });

  it('applies per-model quotas only to that model', async () => {
    const imagen = (prompt: string) => t.client('per-model').models.generateImages({ model: 'imagen-4.0-generate-001', prompt, config: { numberOfImages: 1 } });
    await imagen('first');
    expect((await apiError(imagen('second'))).status).toBe(429);
    await t.client('per-model').models.generateContent({ model: MODEL, contents: 'text is not limited' });
  });

  it('exhausts a project for the day after exhaust_after requests, with a per-day message', async () => {
    const client = t.client('blog-overflow');
    await client.models.generateContent({ model: MODEL, contents: 'one' });
    await client.models.generateContent({ model: MODEL, contents: 'two' });
    const error = await apiError(client.models.generateContent({ model: MODEL, contents: 'three' }));
    expect(error.status).toBe(429);
    const body = JSON.parse(error.message).error;
    expect(body.status).toBe('RESOURCE_EXHAUSTED');
    expect(body.message).toMatch(/per_day/);
    expect(JSON.stringify(body.details)).not.toContain('RetryInfo');
  });

  it('fails with 503 UNAVAILABLE at the configured rate', async () => {
    const error = await apiError(t.client('flaky').models.generateContent({ model: MODEL, contents: 'hi' }));
    expect(error.status).toBe(503);
    expect(JSON.parse(error.message).error).toMatchObject({ status: 'UNAVAILABLE', message: 'The service is currently unavailable.' });
  });

  it('applies latency to every answer, errors included', async () => {
    let started = Date.now();
    await t.client('slow').models.generateContent({ model: MODEL, contents: 'hi' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(145);
    started = Date.now();
    expect((await post(modelUrl(t.url, 'slow', MODEL, 'generateContent'), '{bad')).status).toBe(400);
    expect(Date.now() - started).toBeGreaterThanOrEqual(145);
  });

  it('counts every outcome exactly, per project and per model', async () => {
    const batch = t.client('blog-batch');
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => batch.models.generateContent({ model: MODEL, contents: `item ${i}` })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    await batch.models.countTokens({ model: MODEL, contents: 'free' });
    await apiError(t.client('revoked').models.generateContent({ model: MODEL, contents: 'x' }));
    await apiError(t.client('flaky').models.generateContent({ model: MODEL, contents: 'x' }));

    const okUsage = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.usageMetadata] : []));
    const stats = await t.fetchStats();
    expect(stats.projects['blog-batch']).toMatchObject({
      requests: 5,
      ok: 3,
      rejected_429: 2,
      failed_5xx: 0,
      denied_403: 0,
      count_tokens: 1,
      input_tokens: okUsage.reduce((sum, u) => sum + (u?.promptTokenCount ?? 0), 0),
      // Thinking tokens are billed as output.
      output_tokens: okUsage.reduce((sum, u) => sum + (u?.candidatesTokenCount ?? 0) + (u?.thoughtsTokenCount ?? 0), 0),
    });
    expect(stats.projects['blog-batch']?.by_model[MODEL]).toMatchObject({ requests: 5, ok: 3, rejected_429: 2 });
    expect(stats.projects.revoked).toMatchObject({ requests: 1, ok: 0, denied_403: 1 });
    expect(stats.projects.flaky).toMatchObject({ requests: 1, ok: 0, failed_5xx: 1 });

    await fetch(`${t.url}/_emulator/reset`, { method: 'POST' });
    expect((await t.fetchStats()).projects).toEqual({});
  });

  it('replaces its config at runtime with PUT /_emulator/config and refuses a bad one', async () => {
    const put = (body: unknown) =>
      fetch(`${t.url}/_emulator/config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await put({ projects: { 'blog-batch': { deny: true } } })).status).toBe(200);
    expect((await apiError(t.client('blog-batch').models.generateContent({ model: MODEL, contents: 'x' }))).status).toBe(403);
    const refused = await put({ projects: { p: { rmp: 3 } } });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(await refused.json())).toContain('did you mean');
  });
});
