import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheUnavailableError, ResponseCache, cacheKeyOf, type ResponseCacheOptions } from '../../src/cache/response-cache.js';
import { ConfigError } from '../../src/errors/config-error.js';
import { emptyUsage, type ProviderResult } from '../../src/providers/provider.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
const opened: ResponseCache[] = [];
afterEach(() => {
  for (const cache of opened.splice(0)) cache.close();
});

/**
 * A cache whose stores, uses and misses are written to its file at once (each operation flushes its
 * batch): these tests are about what the file holds. `openBatched` leaves the batching as it is.
 */
function open(options: ResponseCacheOptions = {}): ResponseCache {
  const cache = openBatched(options);
  const { put, get } = cache;
  cache.put = async (...args) => {
    await put.apply(cache, args);
    cache.flush();
  };
  cache.get = async (...args) => {
    const result = await get.apply(cache, args);
    cache.flush();
    return result;
  };
  return cache;
}

function openBatched(options: ResponseCacheOptions = {}): ResponseCache {
  const cache = ResponseCache.open({ env: {}, ...options });
  opened.push(cache);
  return cache;
}

/** A clock the test moves: last-use times without sleeping. */
function fakeClock(start = 1_750_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

const usage = { ...emptyUsage(), inputTokens: 12, outputTokens: 34 };
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const key = (prompt: string): string => cacheKeyOf({ task: 'text', model: 'gemini-2.5-flash', prompt, params: {} });
const textResult = (text: string): ProviderResult => ({ text, usage, modelVersion: 'gemini-2.5-flash-001', responseId: `r-${text.length}` });
const imageResult = (data: Buffer): ProviderResult => ({ media: [{ mimeType: 'image/png', data }], usage: { ...emptyUsage(), images: 1 } });

function blobFiles(dir: string): string[] {
  const root = join(dir, 'blobs');
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

describe('ResponseCache: round trips', () => {
  it('gives back text, JSON and usage exactly as stored, and misses an unknown key', async () => {
    const dir = tempDir();
    const cache = open({ dir });
    expect(await cache.get(key('nothing'))).toBeUndefined();
    const json: ProviderResult = {
      text: '{"image_prompt":"a red fox","alt_text":"A fox"}',
      json: { image_prompt: 'a red fox', alt_text: 'A fox', tags: [1, null, 'x'] },
      usage,
    };
    await cache.put(key('text'), textResult('Un résumé — with ünïcode ✓'), { model: 'gemini-2.5-flash', task: 'text' });
    await cache.put(key('json'), json, { model: 'gemini-2.5-flash', task: 'text' });
    await cache.put(key('null'), { text: 'null', json: null, usage }, { model: 'gemini-2.5-flash', task: 'text' });
    expect(await cache.get(key('text'))).toEqual(textResult('Un résumé — with ünïcode ✓'));
    expect(await cache.get(key('json'))).toEqual(json);
    expect(await cache.get(key('null'))).toEqual({ text: 'null', json: null, usage });
    // Another instance (another process) on the same folder sees the same entries.
    const other = open({ dir });
    expect(await other.get(key('json'))).toEqual(json);
  });

  it('keeps embedding vectors exact (float64 from JSON), however many and however long', async () => {
    const cache = open({ dir: tempDir() });
    const vectors = [
      [0.1, 1 / 3, -0, 1e-300, -2.5e-8, Number.MAX_VALUE, Number.MIN_VALUE, 123456789.12345679],
      Array.from({ length: 768 }, (_, i) => Math.sin(i) * 0.123456789012345),
      [],
    ];
    await cache.put(key('vectors'), { vectors, usage: { ...emptyUsage(), characters: 99 } }, { model: 'text-embedding-005', task: 'embedding' });
    const back = await cache.get(key('vectors'));
    expect(back?.vectors).toEqual(vectors);
    expect(back?.vectors?.[0]?.map((v) => Object.is(v, -0))).toEqual([false, false, true, false, false, false, false, false]);
    expect(back?.usage.characters).toBe(99);
  });

  it('stores media bytes as blob files named by sha256, identical on the way back, one file for the same image in two entries', async () => {
    const dir = tempDir();
    const cache = open({ dir });
    const image = randomBytes(20_000);
    const other = randomBytes(5_000);
    await cache.put(key('hero a'), imageResult(image), { model: 'gemini-2.5-flash-image', task: 'image' });
    await cache.put(key('hero b'), imageResult(image), { model: 'gemini-2.5-flash-image', task: 'image' });
    await cache.put(
      key('two'),
      {
        media: [
          { mimeType: 'image/webp', data: other },
          { mimeType: 'video/mp4', data: image, uri: 'gs://bucket/v.mp4' },
        ],
        usage,
      },
      { model: 'veo', task: 'video' },
    );
    expect(blobFiles(dir).sort()).toEqual(
      [join(dir, 'blobs', sha(image).slice(0, 2), sha(image)), join(dir, 'blobs', sha(other).slice(0, 2), sha(other))].sort(),
    );
    expect(readFileSync(join(dir, 'blobs', sha(image).slice(0, 2), sha(image))).equals(image)).toBe(true);
    const a = await cache.get(key('hero a'));
    expect(a?.media?.[0]?.data.equals(image)).toBe(true);
    expect(a?.media?.[0]?.mimeType).toBe('image/png');
    expect(await cache.get(key('two'))).toEqual({
      media: [
        { mimeType: 'image/webp', data: other },
        { mimeType: 'video/mp4', data: image, uri: 'gs://bucket/v.mp4' },
      ],
      usage,
    });
    const stats = cache.stats();
    expect(stats).toMatchObject({ entries: 3, blobs: 2, blobBytes: 25_000 });
    expect(stats.bytes).toBeGreaterThan(25_000);

    // Forgetting one of the entries sharing the image keeps its file; forgetting the last one removes it.
    cache.forget(key('hero a'));
    cache.forget(key('two'));
    expect(await cache.get(key('hero a'))).toBeUndefined();
    expect(blobFiles(dir)).toEqual([join(dir, 'blobs', sha(image).slice(0, 2), sha(image))]);
    expect((await cache.get(key('hero b')))?.media?.[0]?.data.equals(image)).toBe(true);
    cache.forget(key('hero b'));
    expect(blobFiles(dir)).toEqual([]);
    expect(cache.stats()).toMatchObject({ entries: 0, blobs: 0, blobBytes: 0, bytes: 0 });
  });

  it('never stores a filtered result (a safety block may not repeat)', async () => {
    const cache = open({ dir: tempDir() });
    await cache.put(key('blocked'), { filtered: { reason: 'SAFETY' }, usage }, { model: 'gemini-2.5-flash', task: 'text' });
    expect(await cache.get(key('blocked'))).toBeUndefined();
    expect(cache.stats().entries).toBe(0);
  });

  it('replaces the entry of a key stored again, and removes the blob only the old one used', async () => {
    const dir = tempDir();
    const cache = open({ dir });
    const first = randomBytes(1000);
    const second = randomBytes(1000);
    await cache.put(key('again'), imageResult(first), { model: 'imagen', task: 'image' });
    await cache.put(key('again'), imageResult(second), { model: 'imagen', task: 'image' });
    expect((await cache.get(key('again')))?.media?.[0]?.data.equals(second)).toBe(true);
    expect(blobFiles(dir).map((f) => f.split('/').at(-1))).toEqual([sha(second)]);
    expect(cache.stats()).toMatchObject({ entries: 1, blobs: 1, blobBytes: 1000 });
  });

  it('counts hits and misses in the file, for every process and across opens', async () => {
    const dir = tempDir();
    const a = open({ dir });
    await a.put(key('x'), textResult('x'), { model: 'm', task: 'text' });
    await a.get(key('x'));
    await a.get(key('y'));
    const b = open({ dir });
    await b.get(key('x'));
    a.close();
    b.close();
    expect(open({ dir }).stats()).toMatchObject({ hits: 2, misses: 1, entries: 1 });
  });
});

describe('ResponseCache: batched writes', () => {
  it('writes stores, uses and misses in batches: a stored answer serves lookups at once, another process sees it once the batch is written', async () => {
    const dir = tempDir();
    const cache = openBatched({ dir });
    const other = openBatched({ dir });
    await cache.put(key('fresh'), textResult('fresh'), { model: 'm', task: 'text' });
    expect(await cache.get(key('fresh'))).toEqual(textResult('fresh'));
    expect(await cache.get(key('absent'))).toBeUndefined();
    // Not written yet: another process does not see it (it would pay for it: nothing worse).
    expect(await other.get(key('fresh'))).toBeUndefined();
    cache.flush();
    expect(await other.get(key('fresh'))).toEqual(textResult('fresh'));
    other.close();
    cache.close();
    expect(openBatched({ dir }).stats()).toMatchObject({ entries: 1, hits: 2, misses: 2 });
  });

  it('writes a batch by itself after a short delay, and on close', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const dir = tempDir();
    const cache = openBatched({ dir });
    await cache.put(key('a'), textResult('a'), { model: 'm', task: 'text' });
    const other = openBatched({ dir });
    expect(await other.get(key('a'))).toBeUndefined();
    vi.advanceTimersByTime(100);
    vi.useRealTimers();
    expect((await other.get(key('a')))?.text).toBe('a');
    await cache.put(key('b'), textResult('b'), { model: 'm', task: 'text' });
    cache.close();
    expect((await other.get(key('b')))?.text).toBe('b');
  });
});

describe('ResponseCache: size cap and eviction', () => {
  it('evicts the least recently used entries past maxBytes (a hit counts as a use), with their blob files', async () => {
    const dir = tempDir();
    const clock = fakeClock();
    const probe = open({ dir: tempDir() });
    await probe.put(key('probe'), imageResult(randomBytes(10_000)), { model: 'imagen', task: 'image' });
    const oneEntry = probe.stats().bytes;
    // Room for three such entries, not four.
    const cache = open({ dir, maxBytes: oneEntry * 3 + oneEntry / 2, clock: clock.now });
    const images = [0, 1, 2, 3].map(() => randomBytes(10_000));
    for (const [i, image] of images.slice(0, 3).entries()) {
      await cache.put(key(`e${i}`), imageResult(image), { model: 'imagen', task: 'image' });
      clock.advance(1000);
    }
    expect(await cache.get(key('e0'))).toBeDefined();
    clock.advance(1000);
    await cache.put(key('e3'), imageResult(images[3]!), { model: 'imagen', task: 'image' });
    // e1 was the least recently used (e0 was read after it was stored).
    expect(await cache.get(key('e1'))).toBeUndefined();
    for (const k of ['e0', 'e2', 'e3']) expect(await cache.get(key(k)), k).toBeDefined();
    const stats = cache.stats();
    expect(stats.entries).toBe(3);
    expect(stats.bytes).toBeLessThanOrEqual(cache.maxBytes);
    expect(
      blobFiles(dir)
        .map((f) => f.split('/').at(-1))
        .sort(),
    ).toEqual([images[0]!, images[2]!, images[3]!].map(sha).sort());
  });

  it('does not store an entry larger than the whole cap (it would evict everything and then itself)', async () => {
    const dir = tempDir();
    const cache = open({ dir, maxBytes: 50_000 });
    await cache.put(key('small'), textResult('small'), { model: 'm', task: 'text' });
    await cache.put(key('huge'), imageResult(randomBytes(60_000)), { model: 'imagen', task: 'image' });
    expect(await cache.get(key('huge'))).toBeUndefined();
    expect(await cache.get(key('small'))).toBeDefined();
    expect(blobFiles(dir)).toEqual([]);
  });

  it('reads the cap from GENBATCH_CACHE_MAX_BYTES, 2 GB by default, and refuses a value that is not a size (exit 2)', () => {
    expect(open({ dir: tempDir() }).maxBytes).toBe(2 * 1024 ** 3);
    expect(open({ dir: tempDir(), env: { GENBATCH_CACHE_MAX_BYTES: '500MB' } }).maxBytes).toBe(500 * 1024 ** 2);
    expect(open({ dir: tempDir(), env: { GENBATCH_CACHE_MAX_BYTES: '500MB' }, maxBytes: 1000 }).maxBytes).toBe(1000);
    let error: unknown;
    try {
      open({ dir: tempDir(), env: { GENBATCH_CACHE_MAX_BYTES: 'lots' } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe('GENBATCH_CACHE_MAX_BYTES is "lots": expected a size such as 500MB, 2GB or a number of bytes.');
    expect((error as ConfigError).exitCode).toBe(2);
  });
});

describe('ResponseCache: forget, clear, prune', () => {
  it('forget removes one entry for good: the next lookup misses', async () => {
    const cache = open({ dir: tempDir() });
    await cache.put(key('rejected'), textResult('a bad answer'), { model: 'm', task: 'text' });
    await cache.put(key('kept'), textResult('a good answer'), { model: 'm', task: 'text' });
    cache.forget(key('rejected'));
    cache.forget(key('never stored'));
    expect(await cache.get(key('rejected'))).toBeUndefined();
    expect(await cache.get(key('kept'))).toEqual(textResult('a good answer'));
  });

  it('clear removes every entry and blob file, resets the counts, and says what it removed', async () => {
    const dir = tempDir();
    const cache = open({ dir });
    await cache.put(key('a'), textResult('a'), { model: 'm', task: 'text' });
    await cache.put(key('b'), imageResult(randomBytes(3000)), { model: 'imagen', task: 'image' });
    await cache.get(key('a'));
    const before = cache.stats();
    expect(cache.clear()).toEqual({ entries: 2, bytes: before.bytes });
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0, blobs: 0, hits: 0, misses: 0 });
    expect(blobFiles(dir)).toEqual([]);
    expect(await cache.get(key('a'))).toBeUndefined();
    await cache.put(key('c'), imageResult(randomBytes(100)), { model: 'imagen', task: 'image' });
    expect(await cache.get(key('c'))).toBeDefined();
  });

  it('prune removes orphan blob files (not fresh ones: another process may be storing their entry) and temp files of dead writers', async () => {
    const dir = tempDir();
    const cache = open({ dir });
    const kept = randomBytes(500);
    await cache.put(key('kept'), imageResult(kept), { model: 'imagen', task: 'image' });
    const orphan = randomBytes(700);
    const fresh = randomBytes(300);
    const place = (data: Buffer, ageMs: number): string => {
      const path = join(dir, 'blobs', sha(data).slice(0, 2), sha(data));
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, data);
      const at = new Date(Date.now() - ageMs);
      utimesSync(path, at, at);
      return path;
    };
    const orphanPath = place(orphan, 10 * 60_000);
    const freshPath = place(fresh, 0);
    const folder = join(dir, 'blobs', sha(kept).slice(0, 2));
    // A writer killed mid-write (no such process), and one still writing (pid 1 is alive).
    const deadTemp = join(folder, `.${sha(kept)}.999999999.0000abcd.tmp`);
    const liveTemp = join(folder, `.${sha(kept)}.1.0000abce.tmp`);
    const stranger = join(folder, 'notes.txt');
    for (const file of [deadTemp, liveTemp, stranger]) writeFileSync(file, 'partial');

    const pruned = cache.prune();
    expect(pruned).toEqual({ entries: 0, bytes: 700, orphanFiles: 1, tempFiles: 1 });
    expect(existsSync(orphanPath)).toBe(false);
    expect(existsSync(deadTemp)).toBe(false);
    for (const file of [freshPath, liveTemp, stranger]) expect(existsSync(file), file).toBe(true);
    expect((await cache.get(key('kept')))?.media?.[0]?.data.equals(kept)).toBe(true);
  });

  it('prune evicts entries unused for longer than olderThanMs, and least recently used ones down to an explicit size', async () => {
    const dir = tempDir();
    const clock = fakeClock();
    const cache = open({ dir, clock: clock.now });
    for (const name of ['old1', 'old2']) await cache.put(key(name), imageResult(randomBytes(1000)), { model: 'imagen', task: 'image' });
    clock.advance(40 * 86_400_000);
    for (const name of ['new1', 'new2', 'new3']) {
      await cache.put(key(name), textResult(name.repeat(200)), { model: 'm', task: 'text' });
      clock.advance(1000);
    }
    const old = cache.prune({ olderThanMs: 30 * 86_400_000 });
    expect(old.entries).toBe(2);
    expect(old.bytes).toBeGreaterThan(2000);
    expect(blobFiles(dir)).toEqual([]);
    expect(await cache.get(key('old1'))).toBeUndefined();

    await cache.get(key('new1'));
    const target = cache.stats().bytes - 1;
    expect(cache.prune({ maxBytes: target }).entries).toBe(1);
    expect(await cache.get(key('new2'))).toBeUndefined();
    expect(await cache.get(key('new1'))).toBeDefined();
    expect(await cache.get(key('new3'))).toBeDefined();
    expect(cache.prune({ maxBytes: 0 }).entries).toBe(2);
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });
});

describe('ResponseCache: damage never stops a run', () => {
  it('a file that is not a database: unavailable (said once), lookups miss, stores do nothing, stats throws, clear starts afresh', async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'responses.db'), Buffer.alloc(8192, 'garbage! '));
    const said: CacheUnavailableError[] = [];
    const cache = open({ dir, onUnavailable: (e) => said.push(e) });
    expect(cache.unavailable).toBeInstanceOf(CacheUnavailableError);
    expect(cache.unavailable?.reason).toBe('damaged');
    expect(cache.unavailable?.code).toBe('CACHE_UNAVAILABLE');
    expect(cache.unavailable?.message).toMatch(new RegExp(`^The response cache ${join(dir, 'responses.db')} is damaged \\(SQLite: .*\\); it is not used\\.$`));
    expect(cache.unavailable?.hint).toContain('genbatch cache clear');
    expect(await cache.get(key('a'))).toBeUndefined();
    await expect(cache.put(key('a'), textResult('a'), { model: 'm', task: 'text' })).resolves.toBeUndefined();
    cache.forget(key('a'));
    expect(() => cache.stats()).toThrow(CacheUnavailableError);
    expect(() => cache.prune()).toThrow(CacheUnavailableError);
    expect(said).toHaveLength(1);

    expect(cache.clear()).toEqual({ entries: 0, bytes: 8192 });
    expect(cache.unavailable).toBeUndefined();
    await cache.put(key('a'), textResult('a'), { model: 'm', task: 'text' });
    expect(await cache.get(key('a'))).toEqual(textResult('a'));
  });

  it('a file damaged inside (sound header, garbage pages): the first lookup that meets it turns the cache unavailable, without throwing', async () => {
    const dir = tempDir();
    const first = open({ dir });
    for (let i = 0; i < 300; i++) await first.put(key(`p${i}`), textResult(`answer ${i} `.repeat(20)), { model: 'm', task: 'text' });
    first.close();
    const file = join(dir, 'responses.db');
    const content = readFileSync(file);
    const pageSize = content.readUInt16BE(16);
    content.fill(0xa5, pageSize);
    writeFileSync(file, content);
    const said: CacheUnavailableError[] = [];
    const cache = open({ dir, onUnavailable: (e) => said.push(e) });
    for (let i = 0; i < 5; i++) expect(await cache.get(key(`p${i}`))).toBeUndefined();
    await cache.put(key('new'), textResult('new'), { model: 'm', task: 'text' });
    expect(cache.unavailable?.reason).toBe('damaged');
    expect(said).toHaveLength(1);
  });

  it('a cache of a newer genbatch, or another program’s database, is left alone (a foreign one is never deleted)', async () => {
    const newer = tempDir();
    const seed = open({ dir: newer });
    await seed.put(key('a'), textResult('a'), { model: 'm', task: 'text' });
    seed.close();
    const db = new Database(join(newer, 'responses.db'));
    db.pragma('user_version = 99');
    db.close();
    const tooNew = open({ dir: newer });
    expect(tooNew.unavailable?.reason).toBe('too_new');
    expect(tooNew.unavailable?.message).toContain('newer genbatch (schema 99; this one reads 1)');
    expect(await tooNew.get(key('a'))).toBeUndefined();

    const foreignDir = tempDir();
    const other = new Database(join(foreignDir, 'responses.db'));
    other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)');
    other.close();
    const foreign = open({ dir: foreignDir });
    expect(foreign.unavailable?.reason).toBe('foreign');
    expect(foreign.unavailable?.message).toContain('is not a genbatch response cache: it is a SQLite database with other tables (invoices)');
    expect(() => foreign.clear()).toThrow(CacheUnavailableError);
    expect(statSync(join(foreignDir, 'responses.db')).size).toBeGreaterThan(0);
  });

  it('a damaged or missing blob file is a miss: the entries using it are dropped, and storing again heals it', async () => {
    const dir = tempDir();
    const cache = open({ dir });
    const image = randomBytes(4000);
    const path = join(dir, 'blobs', sha(image).slice(0, 2), sha(image));
    await cache.put(key('a'), imageResult(image), { model: 'imagen', task: 'image' });
    await cache.put(key('b'), imageResult(image), { model: 'imagen', task: 'image' });
    await cache.put(key('text'), textResult('unrelated'), { model: 'm', task: 'text' });
    const damaged = Buffer.from(image);
    damaged[100] = damaged[100]! ^ 0xff;
    writeFileSync(path, damaged);
    expect(await cache.get(key('a'))).toBeUndefined();
    expect(existsSync(path)).toBe(false);
    expect(await cache.get(key('b'))).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 1, blobs: 0, misses: 2 });
    expect(cache.unavailable).toBeUndefined();

    await cache.put(key('a'), imageResult(image), { model: 'imagen', task: 'image' });
    expect((await cache.get(key('a')))?.media?.[0]?.data.equals(image)).toBe(true);
    // Missing altogether: the same.
    rmSync(path);
    expect(await cache.get(key('a'))).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 1, blobs: 0 });
    expect(await cache.get(key('text'))).toEqual(textResult('unrelated'));
  });
});
