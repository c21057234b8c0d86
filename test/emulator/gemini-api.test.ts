import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GenerateVideosOperation, GoogleGenAI, Type } from '@google/genai';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { parseEmulatorConfig, type EmulatorConfigInput } from '../../src/emulator/index.js';
import { apiError, useResetEmulator, vertexClient } from '../helpers/emulator-client.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * The Gemini Developer API paths of the emulator, through the real SDK as an `api: gemini`
 * credentials entry uses it: `new GoogleGenAI({ apiKey, httpOptions: { baseUrl } })`, no `vertexai`.
 */

const FLASH = 'gemini-2.5-flash';
const EMBEDDING = 'gemini-embedding-001';
const IMAGEN = 'imagen-4.0-fast-generate-001';
const GEMINI_IMAGE = 'gemini-2.5-flash-image';
const VEO = 'veo-3.0-fast-generate-001';
const VIDEO_MS = 100;

/** Keys shaped like AI Studio keys; none may ever show up in stats, the log or an error. */
const FREE_KEY = 'AIzaSyFreeKey-never-listed-0123456789abc';
const LIMITED_KEY = 'AIzaSyLimitedKey-0123456789abcdefghijklm';
const FLAKY_KEY = 'AIzaSyFlakyKey-0123456789abcdefghijklmno';
const BLOCKED_KEY = 'AIzaSyBlockedKey-0123456789abcdefghijklm';
const ALL_KEYS = [FREE_KEY, LIMITED_KEY, FLAKY_KEY, BLOCKED_KEY];

function keyProject(key: string): string {
  return `aistudio-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

const CONFIG: EmulatorConfigInput = {
  video_ms: VIDEO_MS,
  projects: {
    [keyProject(LIMITED_KEY)]: { requests: 2, window: '1h' },
    [keyProject(FLAKY_KEY)]: { fail_rate_503: 1 },
    [keyProject(BLOCKED_KEY)]: { deny: true },
  },
};

function gemini(url: string, key: string): GoogleGenAI {
  return new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: url } });
}

function post(url: string, body: unknown, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

describe('emulator: the Gemini Developer API paths', () => {
  const t = useResetEmulator(CONFIG);
  const tempDir = useTempDir();

  it('answers generateContent with text, counted under the key project on the gemini API', async () => {
    const response = await gemini(t.url, FREE_KEY).models.generateContent({ model: FLASH, contents: 'Write one line about tides.' });
    expect(response.text?.length).toBeGreaterThan(0);
    expect(response.candidates?.[0]?.finishReason).toBe('STOP');
    expect(response.usageMetadata?.promptTokenCount).toBeGreaterThan(0);
    const stats = await t.fetchStats();
    expect(Object.keys(stats.projects)).toEqual([keyProject(FREE_KEY)]);
    expect(stats.projects[keyProject(FREE_KEY)]).toMatchObject({
      api: 'gemini',
      requests: 1,
      ok: 1,
      input_tokens: response.usageMetadata?.promptTokenCount,
      output_tokens: (response.usageMetadata?.candidatesTokenCount ?? 0) + (response.usageMetadata?.thoughtsTokenCount ?? 0),
    });
    const log = (await (await fetch(`${t.url}/_emulator/log`)).json()) as { requests: unknown[] };
    expect(log.requests).toEqual([{ at: expect.any(Number), api: 'gemini', project: keyProject(FREE_KEY), model: FLASH, status: 200 }]);
  });

  it('answers JSON that satisfies the response schema', async () => {
    const response = await gemini(t.url, FREE_KEY).models.generateContent({
      model: FLASH,
      contents: 'An image brief for a post about tides.',
      config: {
        responseMimeType: 'application/json',
        responseSchema: {
          type: Type.OBJECT,
          properties: { image_prompt: { type: Type.STRING }, tags: { type: Type.ARRAY, items: { type: Type.STRING } } },
          required: ['image_prompt', 'tags'],
        },
      },
    });
    const parsed = JSON.parse(response.text ?? '') as { image_prompt: unknown; tags: unknown };
    expect(typeof parsed.image_prompt).toBe('string');
    expect(Array.isArray(parsed.tags)).toBe(true);
  });

  it('counts tokens for free, as promptTokenCount counts them', async () => {
    const client = gemini(t.url, FREE_KEY);
    const contents = 'How many tokens are in this sentence, exactly?';
    const counted = await client.models.countTokens({ model: FLASH, contents });
    const answered = await client.models.generateContent({ model: FLASH, contents });
    expect(counted.totalTokens).toBe(answered.usageMetadata?.promptTokenCount);
    expect((await client.models.countTokens({ model: EMBEDDING, contents })).totalTokens).toBe(counted.totalTokens);
    expect((await t.fetchStats()).projects[keyProject(FREE_KEY)]).toMatchObject({ requests: 1, ok: 1, count_tokens: 2 });
  });

  it('embeds one text and a batch (batchEmbedContents), with the vectors Vertex gives the same text', async () => {
    const client = gemini(t.url, FREE_KEY);
    const single = await client.models.embedContent({ model: EMBEDDING, contents: 'tides and the moon' });
    expect(single.embeddings).toHaveLength(1);
    expect(single.embeddings?.[0]?.values).toHaveLength(3072);
    const onVertex = await vertexClient(t.url, 'vertex-project').models.embedContent({ model: EMBEDDING, contents: 'tides and the moon' });
    expect(single.embeddings?.[0]?.values).toEqual(onVertex.embeddings?.[0]?.values);

    const texts = ['tides and the moon', 'baking sourdough', 'the moon pulls the tides'];
    const batch = await client.models.embedContent({
      model: EMBEDDING,
      contents: texts,
      config: { outputDimensionality: 256, taskType: 'RETRIEVAL_DOCUMENT' },
    });
    expect(batch.embeddings?.map((e) => e.values?.length)).toEqual([256, 256, 256]);
    expect(batch.embeddings?.[0]?.values).not.toEqual(batch.embeddings?.[2]?.values);
    // One :batchEmbedContents call per SDK call, billed once each.
    expect((await t.fetchStats()).projects[keyProject(FREE_KEY)]?.by_model[EMBEDDING]).toMatchObject({ requests: 2, ok: 2 });

    // :embedContent (one content) answers `embedding`, not `embeddings`.
    const raw = await post(
      `${t.url}/v1beta/models/${EMBEDDING}:embedContent`,
      { content: { parts: [{ text: 'tides and the moon' }] } },
      { 'x-goog-api-key': FREE_KEY },
    );
    expect(raw.status).toBe(200);
    expect(((await raw.json()) as { embedding: { values: number[] } }).embedding.values).toEqual(single.embeddings?.[0]?.values);

    const tooMany = await post(
      `${t.url}/v1beta/models/${EMBEDDING}:batchEmbedContents`,
      { requests: Array.from({ length: 101 }, () => ({ model: `models/${EMBEDDING}`, content: { parts: [{ text: 'x' }] } })) },
      { 'x-goog-api-key': FREE_KEY },
    );
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: { message: string } }).error.message).toBe(
      '* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch',
    );
  });

  it('serves Imagen :predict (the SDK only calls it on Vertex, so this is the raw request)', async () => {
    const response = await post(
      `${t.url}/v1beta/models/${IMAGEN}:predict`,
      { instances: [{ prompt: 'a lighthouse at dusk' }], parameters: { sampleCount: 2, aspectRatio: '16:9' } },
      { 'x-goog-api-key': FREE_KEY },
    );
    expect(response.status).toBe(200);
    const { predictions } = (await response.json()) as { predictions: { bytesBase64Encoded: string; mimeType: string }[] };
    expect(predictions).toHaveLength(2);
    expect(predictions[0]?.mimeType).toBe('image/png');
    expect(
      Buffer.from(predictions[0]?.bytesBase64Encoded ?? '', 'base64')
        .subarray(1, 4)
        .toString('latin1'),
    ).toBe('PNG');
    expect((await t.fetchStats()).projects[keyProject(FREE_KEY)]?.by_model[IMAGEN]).toMatchObject({ requests: 1, ok: 1, images: 2 });
  });

  it('starts a Veo operation, polls it by name, and downloads the video with ai.files.download', async () => {
    // The emulator (in this process) finishes the operation once video_ms has passed on Date.now: a fake Date lets it pass without sleeping.
    vi.useFakeTimers({ toFake: ['Date'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const client = gemini(t.url, FREE_KEY);
    const started = await client.models.generateVideos({ model: VEO, source: { prompt: 'waves on a beach' }, config: { durationSeconds: 6 } });
    expect(started.name).toMatch(new RegExp(`^models/${VEO}/operations/[a-z0-9]+$`));
    const handle = new GenerateVideosOperation();
    handle.name = started.name ?? '';

    const running = await client.operations.getVideosOperation({ operation: handle });
    expect(running.done).toBeFalsy();
    // Another key's project does not see the operation.
    expect((await apiError(gemini(t.url, LIMITED_KEY).operations.getVideosOperation({ operation: handle }))).status).toBe(404);

    vi.advanceTimersByTime(VIDEO_MS);
    const done = await client.operations.getVideosOperation({ operation: handle });
    expect(done.done).toBe(true);
    const video = done.response?.generatedVideos?.[0]?.video;
    expect(video?.uri).toMatch(/^https:\/\/generativelanguage\.googleapis\.com\/v1beta\/files\/[a-z0-9]+:download\?alt=media$/);

    const file = join(tempDir(), 'video.mp4');
    await client.files.download({ file: video ?? {}, downloadPath: file });
    expect(readFileSync(file).subarray(4, 8).toString('latin1')).toBe('ftyp');

    // The start is billed once; polls and the download are free.
    expect((await t.fetchStats()).projects[keyProject(FREE_KEY)]).toMatchObject({ requests: 1, ok: 1, videos_seconds: 6 });
  });

  it('enforces the quota of a key project: 429 with QuotaFailure, RetryInfo and Retry-After', async () => {
    const client = gemini(t.url, LIMITED_KEY);
    await client.models.generateContent({ model: FLASH, contents: 'one' });
    await client.models.generateContent({ model: FLASH, contents: 'two' });
    const raw = await post(
      `${t.url}/v1beta/models/${FLASH}:generateContent`,
      { contents: [{ parts: [{ text: 'three' }] }] },
      { 'x-goog-api-key': LIMITED_KEY },
    );
    expect(raw.status).toBe(429);
    expect(Number(raw.headers.get('retry-after'))).toBeGreaterThan(3500);
    const { error } = (await raw.json()) as { error: { status: string; message: string; details: Record<string, unknown>[] } };
    expect(error.status).toBe('RESOURCE_EXHAUSTED');
    expect(error.message).toMatch(/^You exceeded your current quota/);
    const failure = error.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.QuotaFailure') as { violations: { quotaId: string }[] };
    expect(failure.violations[0]?.quotaId).toMatch(/^GenerateRequestsPer\d+MsPerProjectPerModel$/);
    const retry = error.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo') as { retryDelay: string };
    expect(Number(retry.retryDelay.replace(/s$/, ''))).toBeGreaterThan(3500);
    expect((await t.fetchStats()).projects[keyProject(LIMITED_KEY)]).toMatchObject({ api: 'gemini', requests: 3, ok: 2, rejected_429: 1 });
  });

  it('applies the faults configured for a key project: 503 and a blocked key (403)', async () => {
    const flaky = await apiError(gemini(t.url, FLAKY_KEY).models.generateContent({ model: FLASH, contents: 'hi' }));
    expect(flaky).toMatchObject({ status: 503, body: { status: 'UNAVAILABLE' } });
    const blocked = await apiError(gemini(t.url, BLOCKED_KEY).models.generateContent({ model: FLASH, contents: 'hi' }));
    expect(blocked.status).toBe(403);
    expect(blocked.body.message).toBe(
      'Requests to this API generativelanguage.googleapis.com method google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent are blocked.',
    );
    expect(JSON.stringify(blocked.body.details)).toContain('API_KEY_SERVICE_BLOCKED');
    const stats = await t.fetchStats();
    expect(stats.projects[keyProject(FLAKY_KEY)]).toMatchObject({ requests: 1, failed_5xx: 1, ok: 0 });
    expect(stats.projects[keyProject(BLOCKED_KEY)]).toMatchObject({ requests: 1, denied_403: 1, ok: 0 });
  });

  it('refuses a call without a key (403) and, with api_keys, a key it does not list (400 API_KEY_INVALID)', async () => {
    const ask = { contents: [{ parts: [{ text: 'hi' }] }] };
    const missing = await post(`${t.url}/v1beta/models/${FLASH}:generateContent`, ask, {});
    expect(missing.status).toBe(403);
    expect(await missing.json()).toEqual({
      error: {
        code: 403,
        status: 'PERMISSION_DENIED',
        message:
          "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
      },
    });
    // `?key=` is a key too.
    expect((await post(`${t.url}/v1beta/models/${FLASH}:generateContent?key=${FREE_KEY}`, ask, {})).status).toBe(200);

    t.emu.setConfig(parseEmulatorConfig({ ...CONFIG, api_keys: { [LIMITED_KEY]: 'studio-team' } }));
    const unknown = await apiError(gemini(t.url, FREE_KEY).models.generateContent({ model: FLASH, contents: 'hi' }));
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT', message: 'API key not valid. Please pass a valid API key.' });
    expect(unknown.body.details).toContainEqual(expect.objectContaining({ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }));
    // A listed key counts under its named project (whose quotas and faults apply, not its hash's).
    await gemini(t.url, LIMITED_KEY).models.generateContent({ model: FLASH, contents: 'hi' });
    const stats = await t.fetchStats();
    expect(Object.keys(stats.projects).sort()).toEqual([keyProject(FREE_KEY), 'studio-team']);
    expect(stats.projects['studio-team']).toMatchObject({ api: 'gemini', requests: 1, ok: 1 });
    expect(stats.projects[keyProject(FREE_KEY)]).toMatchObject({ requests: 1, ok: 1 });
  });

  it('never shows a key: not in stats, the log or any error body', async () => {
    const bodies: string[] = [];
    const keep = async (promise: Promise<unknown>): Promise<void> => {
      await promise.catch((error: unknown) => bodies.push((error as Error).message));
    };
    await keep(gemini(t.url, FREE_KEY).models.generateContent({ model: FLASH, contents: 'hi' }));
    await keep(gemini(t.url, FREE_KEY).models.generateContent({ model: 'no-such-model', contents: 'hi' }));
    await keep(gemini(t.url, LIMITED_KEY).models.generateContent({ model: FLASH, contents: 'hi' }));
    await keep(gemini(t.url, LIMITED_KEY).models.generateContent({ model: FLASH, contents: 'hi' }));
    await keep(gemini(t.url, LIMITED_KEY).models.generateContent({ model: FLASH, contents: 'hi' }));
    await keep(gemini(t.url, FLAKY_KEY).models.generateContent({ model: FLASH, contents: 'hi' }));
    await keep(gemini(t.url, BLOCKED_KEY).models.generateContent({ model: FLASH, contents: 'hi' }));
    t.emu.setConfig(parseEmulatorConfig({ ...CONFIG, api_keys: { [LIMITED_KEY]: 'studio-team' } }));
    await keep(gemini(t.url, FREE_KEY).models.generateContent({ model: FLASH, contents: 'hi' }));
    expect(bodies).toHaveLength(5);

    const stats = await (await fetch(`${t.url}/_emulator/stats`)).text();
    const log = await (await fetch(`${t.url}/_emulator/log`)).text();
    expect(JSON.parse(log).requests).toHaveLength(7);
    for (const text of [stats, log, ...bodies]) {
      for (const key of ALL_KEYS) expect(text).not.toContain(key);
    }
  });

  it('answers an unknown model or a method the model does not serve with the Gemini API 404', async () => {
    const unknown = await apiError(gemini(t.url, FREE_KEY).models.generateContent({ model: 'no-such-model', contents: 'hi' }));
    expect(unknown.body.message).toMatch(/^models\/no-such-model is not found for API version v1beta/);
    const wrongMethod = await apiError(gemini(t.url, FREE_KEY).models.generateContent({ model: EMBEDDING, contents: 'hi' }));
    expect(wrongMethod.body).toMatchObject({
      code: 404,
      status: 'NOT_FOUND',
      message: `models/${EMBEDDING} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of supported models and their supported methods.`,
    });
  });

  it('keeps Vertex and Gemini API projects apart in stats and the log, each with its api', async () => {
    await vertexClient(t.url, 'vertex-project').models.generateContent({ model: FLASH, contents: 'hi' });
    await gemini(t.url, FREE_KEY).models.generateContent({ model: FLASH, contents: 'hi' });
    const stats = await t.fetchStats();
    expect(stats.projects['vertex-project']).toMatchObject({ api: 'vertex', requests: 1, ok: 1 });
    expect(stats.projects[keyProject(FREE_KEY)]).toMatchObject({ api: 'gemini', requests: 1, ok: 1 });
    expect(t.emu.log().map((entry) => [entry.api, entry.project])).toEqual([
      ['vertex', 'vertex-project'],
      ['gemini', keyProject(FREE_KEY)],
    ]);
  });

  it('answers gemini-2.5-flash-image with an image on the Gemini API', async () => {
    const response = await gemini(t.url, FREE_KEY).models.generateContent({
      model: GEMINI_IMAGE,
      contents: 'a red bicycle',
      config: { responseModalities: ['IMAGE'] },
    });
    const part = response.candidates?.[0]?.content?.parts?.find((p) => p.inlineData);
    expect(part?.inlineData?.mimeType).toBe('image/png');
    expect((await t.fetchStats()).projects[keyProject(FREE_KEY)]?.by_model[GEMINI_IMAGE]).toMatchObject({ ok: 1, images: 1 });
  });
});
