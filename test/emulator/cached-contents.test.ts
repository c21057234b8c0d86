import type { GoogleGenAI } from '@google/genai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiError, TEST_PROJECT, useResetEmulator, vertexClient } from '../helpers/emulator-client.js';

/**
 * Explicit context caches (`cachedContents`) on the Vertex paths, driven by the real SDK's
 * `ai.caches` (create, get, update, delete, list) as an engine would, with shapes from
 * cached_content.proto / gen_ai_cache_service.proto: the resource's name, model, times and
 * usageMetadata; 404 for a cache that is gone or belongs elsewhere; 400 for a cache under Vertex's
 * minimum of 2,048 tokens. Expiry follows the emulator's clock (Date, faked here).
 */
const MODEL = 'gemini-2.5-flash';
/** One token per word as the emulator counts (token-count.ts): `word ` x n is n tokens. */
const guide = (tokens: number): string => 'word '.repeat(tokens).trim();

describe('emulator: cachedContents', () => {
  const t = useResetEmulator({ caching: { implicit: false } });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function create(client: GoogleGenAI, tokens = 3000, ttl = '600s') {
    return client.caches.create({ model: MODEL, config: { systemInstruction: guide(tokens), ttl, displayName: 'style guide' } });
  }

  it('creates a cache in the project and location of the path, with the resource Vertex returns', async () => {
    const before = Date.now();
    const cache = await create(t.client(), 3000, '600s');
    expect(cache.name).toMatch(new RegExp(`^projects/${TEST_PROJECT}/locations/us-central1/cachedContents/\\d{19}$`));
    expect(cache.model).toBe(`projects/${TEST_PROJECT}/locations/us-central1/publishers/google/models/${MODEL}`);
    expect(cache.displayName).toBe('style guide');
    expect(cache.usageMetadata?.totalTokenCount).toBe(3000);
    const created = Date.parse(cache.createTime ?? '');
    expect(created).toBeGreaterThanOrEqual(before);
    expect(cache.updateTime).toBe(cache.createTime);
    expect(Date.parse(cache.expireTime ?? '') - created).toBe(600_000);
    // Input-only fields do not come back.
    expect(cache).not.toHaveProperty('systemInstruction');
    expect(cache).not.toHaveProperty('contents');
    const stats = t.stats().projects[TEST_PROJECT];
    expect(stats?.caches_created).toBe(1);
    expect(stats?.by_model[MODEL]?.caches_created).toBe(1);
    // Not a model call: no request is counted or billed for it.
    expect(stats?.requests).toBe(0);
    expect(t.emu.cacheLog()).toEqual([expect.objectContaining({ event: 'create', name: cache.name, model: MODEL, tokens: 3000 })]);
  });

  it('defaults the TTL to 60 minutes and counts contents and system instruction alike', async () => {
    const cache = await t.client().caches.create({
      model: MODEL,
      config: { systemInstruction: guide(1000), contents: [{ role: 'user', parts: [{ text: guide(1500) }] }] },
    });
    expect(cache.usageMetadata?.totalTokenCount).toBe(2500);
    expect(Date.parse(cache.expireTime ?? '') - Date.parse(cache.createTime ?? '')).toBe(3_600_000);
  });

  it('refuses a cache under 2,048 tokens with Vertex’s 400', async () => {
    const refused = await apiError(create(t.client(), 2047));
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: 'The cached content is of 2047 tokens. The minimum token count to start caching is 2048.',
    });
    await expect(create(t.client(), 2048)).resolves.toHaveProperty('usageMetadata.totalTokenCount', 2048);
    expect(t.stats().projects[TEST_PROJECT]?.caches_created).toBe(1);
  });

  it('refuses a model the emulator does not serve (404) and a model that takes no cache (400)', async () => {
    const unknown = await apiError(t.client().caches.create({ model: 'gemini-9-flash', config: { systemInstruction: guide(3000) } }));
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toContain('Publisher Model');
    const imagen = await apiError(t.client().caches.create({ model: 'imagen-4.0-generate-001', config: { systemInstruction: guide(3000) } }));
    expect(imagen.status).toBe(400);
  });

  it('gets a cache by name and answers 404 NOT_FOUND once it is deleted', async () => {
    const cache = await create(t.client());
    const got = await t.client().caches.get({ name: cache.name ?? '' });
    expect(got).toEqual(cache);
    await t.client().caches.delete({ name: cache.name ?? '' });
    const gone = await apiError(t.client().caches.get({ name: cache.name ?? '' }));
    expect(gone.status).toBe(404);
    expect(gone.body.status).toBe('NOT_FOUND');
    const again = await apiError(t.client().caches.delete({ name: cache.name ?? '' }));
    expect(again.status).toBe(404);
    const stats = t.stats().projects[TEST_PROJECT];
    expect(stats?.caches_deleted).toBe(1);
    expect(t.emu.cacheLog().map((e) => e.event)).toEqual(['create', 'delete']);
  });

  it('is visible only in its project and location', async () => {
    const cache = await create(t.client());
    const name = cache.name ?? '';
    const id = name.split('/').pop() ?? '';
    // Another project asking for the same id, and the same project in another location.
    expect((await apiError(t.client('other-project').caches.get({ name: id }))).status).toBe(404);
    expect((await apiError(vertexClient(t.url, TEST_PROJECT, 'europe-west4').caches.get({ name: id }))).status).toBe(404);
    expect((await vertexClient(t.url, TEST_PROJECT, 'europe-west4').caches.list()).page).toEqual([]);
    // A generateContent of another project naming the full name does not see it either.
    const foreign = await apiError(t.client('other-project').models.generateContent({ model: MODEL, contents: 'hi', config: { cachedContent: name } }));
    expect(foreign.status).toBe(404);
  });

  it('extends the TTL with update (ttl or expireTime), as the SDK sends it', async () => {
    const cache = await create(t.client(), 3000, '60s');
    const before = Date.now();
    const extended = await t.client().caches.update({ name: cache.name ?? '', config: { ttl: '7200s' } });
    expect(Date.parse(extended.expireTime ?? '') - before).toBeGreaterThanOrEqual(7_200_000);
    expect(Date.parse(extended.expireTime ?? '') - Date.now()).toBeLessThanOrEqual(7_200_000);
    expect(Date.parse(extended.updateTime ?? '')).toBeGreaterThanOrEqual(Date.parse(cache.updateTime ?? ''));
    expect(extended.createTime).toBe(cache.createTime);
    const at = new Date(Date.now() + 3 * 3_600_000).toISOString();
    const pinned = await t.client().caches.update({ name: cache.name ?? '', config: { expireTime: at } });
    expect(pinned.expireTime).toBe(at);
    expect((await t.client().caches.get({ name: cache.name ?? '' })).expireTime).toBe(at);
  });

  it('accepts an updateMask naming ttl and refuses one naming another field', async () => {
    const cache = await create(t.client());
    const url = `${t.url}/v1beta1/${cache.name ?? ''}`;
    const headers = { 'content-type': 'application/json', 'x-goog-api-key': 'k' };
    const ok = await fetch(`${url}?updateMask=ttl`, { method: 'PATCH', headers, body: JSON.stringify({ ttl: '120s' }) });
    expect(ok.status).toBe(200);
    const bad = await fetch(`${url}?updateMask=displayName`, { method: 'PATCH', headers, body: JSON.stringify({ displayName: 'x' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { status: string } }).error.status).toBe('INVALID_ARGUMENT');
  });

  it('expires a cache at its expireTime on the emulator’s clock, and bills its storage until then', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.parse('2026-12-07T10:00:00Z');
    vi.setSystemTime(start);
    const cache = await create(t.client(), 3600, '1800s');
    vi.setSystemTime(start + 1799_000);
    await expect(t.client().caches.get({ name: cache.name ?? '' })).resolves.toHaveProperty('name', cache.name);
    // Alive: storage so far.
    expect(t.stats().projects[TEST_PROJECT]?.cache_storage_token_hours).toBeCloseTo((3600 * 1799) / 3600, 9);
    vi.setSystemTime(start + 1800_000);
    expect((await apiError(t.client().caches.get({ name: cache.name ?? '' }))).status).toBe(404);
    vi.setSystemTime(start + 5 * 3_600_000);
    const stats = t.stats().projects[TEST_PROJECT];
    expect(stats?.caches_expired).toBe(1);
    expect(stats?.caches_deleted).toBe(0);
    // 3,600 tokens for half an hour: 1,800 token-hours, not a second more.
    expect(stats?.cache_storage_token_hours).toBeCloseTo(1800, 9);
    expect(stats?.by_model[MODEL]?.cache_storage_token_hours).toBeCloseTo(1800, 9);
    expect(t.emu.cacheLog().at(-1)).toEqual(expect.objectContaining({ event: 'expire', at: start + 1800_000, tokens: 3600, token_hours: 1800 }));
  });

  it('bills a deleted cache’s storage from create until delete', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.parse('2026-12-07T10:00:00Z');
    vi.setSystemTime(start);
    const cache = await create(t.client(), 2400, '3600s');
    vi.setSystemTime(start + 90_000);
    await t.client().caches.delete({ name: cache.name ?? '' });
    vi.setSystemTime(start + 10 * 3_600_000);
    // 2,400 tokens x 90 s / 3600 = 60 token-hours.
    expect(t.stats().projects[TEST_PROJECT]?.cache_storage_token_hours).toBeCloseTo(60, 9);
    const fetched = await t.fetchStats();
    expect(fetched.projects[TEST_PROJECT]?.cache_storage_token_hours).toBeCloseTo(60, 9);
    const log = (await (await fetch(`${t.url}/_emulator/log`)).json()) as { caches: { event: string; tokens: number; token_hours?: number }[] };
    expect(log.caches).toEqual([
      expect.objectContaining({ event: 'create', tokens: 2400 }),
      expect.objectContaining({ event: 'delete', tokens: 2400, token_hours: 60 }),
    ]);
  });

  it('lists the live caches of the project and location, page by page', async () => {
    const names = new Set<string>();
    for (let i = 0; i < 5; i++) names.add((await create(t.client())).name ?? '');
    await create(t.client('other-project'));
    const pager = await t.client().caches.list({ config: { pageSize: 2 } });
    expect(pager.page).toHaveLength(2);
    const listed: string[] = [];
    for await (const cache of pager) listed.push(cache.name ?? '');
    expect(new Set(listed)).toEqual(names);
    expect(listed).toHaveLength(5);
  });

  it('refuses a create without credentials (401), as every Vertex call', async () => {
    const response = await fetch(`${t.url}/v1beta1/projects/p/locations/us-central1/cachedContents`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(401);
  });
});
