import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ProjectCredentials } from '../../src/credentials/credentials.js';
import { ContextCacheKeeper } from '../../src/engine/context-cache-keeper.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import type { Job, Step } from '../../src/job/job.js';
import type { ProviderRequest } from '../../src/providers/provider.js';
import { StateStore } from '../../src/store/state-store.js';
import { TEST_PROJECT, useResetEmulator } from '../helpers/emulator-client.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * The keeper against the emulator's cachedContents (real SDK over HTTP) and a real state file, with
 * the clock faked (the emulator expires caches on Date too): the TTL bought again while the run lasts,
 * a resume that finds its cache expired makes a new one, and the ledger's storage equals the emulator's.
 */
const t = useResetEmulator({ caching: { implicit: false } });
const tempDir = useTempDir();
const catalog = PriceCatalog.load();
const MODEL = 'gemini-2.5-flash';
const GUIDE = 'word '.repeat(3000).trim();
const step: Step = {
  name: 'copy',
  task: 'text',
  model: MODEL,
  prompt: '{{styles.guide}}\n\nDescribe {{title}}.',
  system: 'You write shop copy.',
  params: {},
  maxAttempts: 3,
  timeoutMs: 60_000,
  contextCache: 'on',
};
const project = { name: 'a', project: TEST_PROJECT, location: 'us-central1', enabled: true, pool: 'default' } as unknown as ProjectCredentials;
const request = (title: string): ProviderRequest => ({
  task: 'text',
  model: MODEL,
  prompt: `${GUIDE}\n\nDescribe ${title}.`,
  system: 'You write shop copy.',
  params: {},
});

function keeper(store: StateStore, runId: string): ContextCacheKeeper {
  const job = { name: 'shop', styles: { guide: GUIDE }, limits: { concurrency: 4 } } as unknown as Job;
  return new ContextCacheKeeper({ runId, job, store, catalog, projects: () => [project], clientFor: () => t.client() });
}

function storageBooked(file: string): number {
  const store = StateStore.open(file, { readonly: true });
  try {
    return store.ledger.costRows().reduce((usd, r) => usd + (r.storage === 1 ? r.cost_usd : 0), 0);
  } finally {
    store.close();
  }
}

const storageBilled = (): number => catalog.cacheStorageCost(MODEL, t.stats().projects[TEST_PROJECT]?.cache_storage_token_hours ?? 0, 3600);

afterEach(() => {
  vi.useRealTimers();
});

describe('ContextCacheKeeper', () => {
  it('names the cache instead of sending the prefix, buys the TTL again past half of it, and deletes it at the end', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.parse('2026-12-07T10:00:00Z');
    vi.setSystemTime(start);
    const file = join(tempDir(), 'state.db');
    const store = StateStore.open(file);
    const caches = keeper(store, 'run-1');

    const first = await caches.requestFor(step, request('a mug'), project, t.client());
    // The fixed text up to {{title}} is in the cache; the request carries the rest.
    expect(first.prompt).toBe('a mug.');
    expect(first.system).toBeUndefined();
    expect(first.cachedContent).toMatch(/^projects\/test-project\/locations\/us-central1\/cachedContents\/\d+$/);
    // Committed before use, with the first TTL (600 s) of storage booked.
    expect(store.contextCaches.live()).toEqual([expect.objectContaining({ name: first.cachedContent, step: 'copy', project: 'a', expireAt: start + 600_000 })]);
    const tokens = store.contextCaches.live()[0]?.tokenCount ?? 0;
    expect(tokens).toBeGreaterThan(3000);
    expect(storageBooked(file)).toBeCloseTo(catalog.cacheStorageCost(MODEL, tokens, 600), 12);

    // Past half the TTL: the next call buys another TTL, booked to the new expiry; same cache.
    vi.setSystemTime(start + 360_000);
    const second = await caches.requestFor(step, request('a lamp'), project, t.client());
    expect(second.cachedContent).toBe(first.cachedContent);
    expect(store.contextCaches.live()[0]?.expireAt).toBe(start + 960_000);
    expect((await t.client().caches.get({ name: first.cachedContent ?? '' })).expireTime).toBe(new Date(start + 960_000).toISOString());

    vi.setSystemTime(start + 400_000);
    await caches.close();
    expect(store.contextCaches.live()).toEqual([]);
    expect(t.stats().projects[TEST_PROJECT]?.caches_deleted).toBe(1);
    // Booked 960 s, lived 400 s: corrected at the delete, equal to the emulator's billing.
    expect(storageBooked(file)).toBeCloseTo(catalog.cacheStorageCost(MODEL, tokens, 400), 12);
    expect(Math.abs(storageBooked(file) - storageBilled())).toBeLessThan(1e-9);
    store.close();
  });

  it('a resume reuses a live recorded cache, and makes a new one when it expired (killed: never deleted)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.parse('2026-12-07T12:00:00Z');
    vi.setSystemTime(start);
    const file = join(tempDir(), 'state.db');
    const store = StateStore.open(file);
    const killed = await keeper(store, 'run-1').requestFor(step, request('a mug'), project, t.client());

    // A resume two minutes later: the same cache.
    vi.setSystemTime(start + 120_000);
    const resumed = await keeper(store, 'run-2').requestFor(step, request('a lamp'), project, t.client());
    expect(resumed.cachedContent).toBe(killed.cachedContent);

    // Killed again; the next resume comes after the cache expired: a new one, the old one ended at its expiry.
    vi.setSystemTime(start + 2 * 3_600_000);
    const late = keeper(store, 'run-3');
    const fresh = await late.requestFor(step, request('a chair'), project, t.client());
    expect(fresh.cachedContent).not.toBe(killed.cachedContent);
    expect(store.contextCaches.live().map((c) => c.name)).toEqual([fresh.cachedContent]);
    expect(t.stats().projects[TEST_PROJECT]?.caches_created).toBe(2);
    vi.setSystemTime(start + 2 * 3_600_000 + 30_000);
    await late.close();
    expect(Math.abs(storageBooked(file) - storageBilled())).toBeLessThan(1e-9);
    store.close();
  });

  it('killed between the create and recording the name: the resume finds the cache by its display name, books it, reuses and deletes it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.parse('2026-12-07T14:00:00Z');
    vi.setSystemTime(start);
    const file = join(tempDir(), 'state.db');
    const store = StateStore.open(file);
    // What a killed run leaves: the intent row, and the cache it made (at Vertex) under that display name.
    const displayName = 'genbatch shop copy 0123456789ab';
    await store.commit(() =>
      store.contextCaches.intent({
        name: 'pending:0123456789ab',
        step: 'copy',
        project: 'a',
        location: 'us-central1',
        model: MODEL,
        tokenCount: 0,
        createdAt: start,
        expireAt: start + 600_000,
        bookedUntil: start,
        runId: 'run-1',
        displayName,
      }),
    );
    const orphan = await t.client().caches.create({ model: MODEL, config: { systemInstruction: GUIDE, ttl: '600s', displayName } });

    vi.setSystemTime(start + 60_000);
    const resumed = keeper(store, 'run-2');
    const next = await resumed.requestFor(step, request('a mug'), project, t.client());
    expect(next.cachedContent).toBe(orphan.name);
    expect(store.contextCaches.live().map((c) => c.name)).toEqual([orphan.name]);
    expect(t.stats().projects[TEST_PROJECT]?.caches_created).toBe(1);
    vi.setSystemTime(start + 90_000);
    await resumed.close();
    expect(t.stats().projects[TEST_PROJECT]?.caches_deleted).toBe(1);
    expect(storageBooked(file)).toBeGreaterThan(0);
    expect(Math.abs(storageBooked(file) - storageBilled())).toBeLessThan(1e-9);
    store.close();
  });
});
