import { describe, expect, it } from 'vitest';
import { countTextTokens } from '../../src/emulator/index.js';
import { InvalidRequestError } from '../../src/errors/provider-errors.js';
import { batchRequestOf } from '../../src/providers/gemini-batch.js';
import { contextCaches } from '../../src/providers/context-cache.js';
import { GeminiTextProvider } from '../../src/providers/gemini-text.js';
import type { ProviderRequest } from '../../src/providers/provider.js';
import { TEST_PROJECT, useResetEmulator } from '../helpers/emulator-client.js';

/**
 * src/providers/context-cache.ts over the real SDK's `ai.caches`, against the emulator over HTTP,
 * and the text provider naming a cache (`cachedContent`): the usage a ledger reads, the 400 Vertex
 * gives a request that names a cache and sets a system instruction too, and the same reply as the
 * request with the prefix inline.
 */
const MODEL = 'gemini-2.5-flash';
const STYLE = 'word '.repeat(3000).trim();

function request(prompt: string, extra: Partial<ProviderRequest> = {}): ProviderRequest {
  return { task: 'text', model: MODEL, prompt, params: {}, thinkingBudget: 0, ...extra };
}

describe('contextCaches (the SDK’s ai.caches) against the emulator', () => {
  const t = useResetEmulator({ caching: { implicit: false } });

  it('creates, gets, extends, lists and removes a cache', async () => {
    const caches = contextCaches(t.client());
    const before = Date.now();
    const info = await caches.create({ model: MODEL, systemInstruction: STYLE, ttlSeconds: 900, displayName: 'genbatch style' });
    expect(info).toEqual({
      name: expect.stringMatching(/^projects\/test-project\/locations\/us-central1\/cachedContents\/\d+$/),
      model: MODEL,
      expireTime: expect.any(String),
      tokenCount: 3000,
      displayName: 'genbatch style',
      createTime: expect.any(String),
    });
    expect(Date.parse(info.expireTime) - before).toBeGreaterThanOrEqual(900_000);
    await expect(caches.get(info.name)).resolves.toEqual(info);
    const extended = await caches.extend(info.name, 7200);
    expect(Date.parse(extended.expireTime)).toBeGreaterThan(Date.parse(info.expireTime));
    await expect(caches.list()).resolves.toEqual([extended]);
    await caches.remove(info.name);
    await expect(caches.get(info.name)).resolves.toBeUndefined();
    // Already gone: not an error.
    await expect(caches.remove(info.name)).resolves.toBeUndefined();
    await expect(caches.list()).resolves.toEqual([]);
  });

  it('lists every page', async () => {
    const caches = contextCaches(t.client());
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await caches.create({ model: MODEL, contents: [{ role: 'user', parts: [{ text: STYLE }] }], ttlSeconds: 60 }));
    const listed = await caches.list();
    expect(listed.map((c) => c.name).sort()).toEqual(made.map((c) => c.name).sort());
  });

  it('throws a classified, non-retryable error for a cache Vertex refuses (too small)', async () => {
    const error = await contextCaches(t.client())
      .create({ model: MODEL, systemInstruction: 'too short', ttlSeconds: 60 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).retryable).toBe(false);
    expect((error as Error).message).toContain('minimum token count to start caching is 2048');
  });

  it('a text request naming a cache reports the cached tokens and gets the reply of the same prompt inline', async () => {
    const cache = await contextCaches(t.client()).create({ model: MODEL, systemInstruction: STYLE, ttlSeconds: 600 });
    const provider = new GeminiTextProvider();
    // A request seed: the same prompt gives the same reply on every ask, so the two can be compared.
    const cached = await provider.call(t.client(), request('Describe the blue teapot.', { cachedContent: cache.name, params: { seed: 7 } }));
    const ownTokens = countTextTokens('Describe the blue teapot.');
    expect(cached.usage.cachedTokens).toBe(3000);
    // promptTokenCount includes the cached tokens, as Vertex reports it.
    expect(cached.usage.inputTokens).toBe(3000 + ownTokens);
    const inline = await provider.call(t.client(), request('Describe the blue teapot.', { system: STYLE, params: { seed: 7 } }));
    expect(inline.usage.cachedTokens).toBe(0);
    expect(inline.usage.inputTokens).toBe(cached.usage.inputTokens);
    // The reply depends on what the model reads, not on whether the prefix came from a cache.
    expect(cached.text).toBe(inline.text);
    const stats = t.stats().projects[TEST_PROJECT]?.by_model[MODEL];
    expect(stats?.input_tokens).toBe(2 * (3000 + ownTokens));
    expect(stats?.cached_input_tokens).toBe(3000);
  });

  it('refuses a request naming a cache and setting a system instruction, as Vertex does (400)', async () => {
    const cache = await contextCaches(t.client()).create({ model: MODEL, systemInstruction: STYLE, ttlSeconds: 600 });
    const error = await new GeminiTextProvider().call(t.client(), request('Hi.', { cachedContent: cache.name, system: 'Be brief.' })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).message).toContain('CachedContent can not be used with GenerateContent request setting system_instruction');
    expect(t.stats().projects[TEST_PROJECT]?.by_model[MODEL]?.ok ?? 0).toBe(0);
  });

  it('refuses a request naming a cache that is gone (404) and one for another model (400)', async () => {
    const caches = contextCaches(t.client());
    const cache = await caches.create({ model: MODEL, systemInstruction: STYLE, ttlSeconds: 600 });
    const provider = new GeminiTextProvider();
    const other = await provider.call(t.client(), request('Hi.', { cachedContent: cache.name, model: 'gemini-2.5-pro', thinkingBudget: 128 })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((other as { httpStatus?: number }).httpStatus).toBe(400);
    await caches.remove(cache.name);
    const gone = await provider.call(t.client(), request('Hi.', { cachedContent: cache.name })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((gone as { httpStatus?: number }).httpStatus).toBe(404);
  });

  it('a batch line’s request carries cachedContent as a request field, not in generationConfig', () => {
    const body = batchRequestOf(request('Hi.', { cachedContent: 'projects/p/locations/l/cachedContents/1' }));
    expect(body.cachedContent).toBe('projects/p/locations/l/cachedContents/1');
    expect(body.generationConfig).not.toHaveProperty('cachedContent');
    expect(batchRequestOf(request('Hi.'))).not.toHaveProperty('cachedContent');
  });
});
