import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ResponseCache, cacheKeyOf } from '../../src/cache/response-cache.js';
import { emptyUsage } from '../../src/providers/provider.js';
import { REPO, runCli, type CliResult } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

const key = (prompt: string, task: 'text' | 'image' = 'text'): string =>
  cacheKeyOf({ task, model: task === 'text' ? 'gemini-2.5-flash' : 'gemini-2.5-flash-image', prompt, params: {} });

/** A cache with 3 text answers and 2 image answers sharing one image (one blob file), 2 hits and 1 miss; the clock is set per entry. */
async function populate(dir: string): Promise<{ image: Buffer; stats: ReturnType<ResponseCache['stats']> }> {
  let now = Date.now() - 10_000;
  const cache = ResponseCache.open({ dir, env: {}, clock: () => now });
  try {
    const image = randomBytes(30_000);
    for (const name of ['a', 'b', 'c']) {
      await cache.put(key(name), { text: `answer ${name} `.repeat(50), usage: emptyUsage() }, { model: 'gemini-2.5-flash', task: 'text' });
      now += 1000;
    }
    for (const name of ['hero 1', 'hero 2']) {
      await cache.put(
        key(name, 'image'),
        { media: [{ mimeType: 'image/png', data: image }], usage: emptyUsage() },
        { model: 'gemini-2.5-flash-image', task: 'image' },
      );
      now += 1000;
    }
    await cache.get(key('hero 2', 'image'));
    now += 1000;
    await cache.get(key('c'));
    await cache.get(key('never asked'));
    return { image, stats: cache.stats() };
  } finally {
    cache.close();
  }
}

function cacheCli(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(['cache', ...args], { env: { GENBATCH_CACHE_DIR: dir, GENBATCH_CACHE_MAX_BYTES: '10MB', ...env } });
}

function blobFiles(dir: string): string[] {
  const root = join(dir, 'blobs');
  return existsSync(root)
    ? readdirSync(root, { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile())
        .map((d) => d.name)
    : [];
}

describe('genbatch cache', () => {
  it('stats: folder, entries, media files, size against the cap and hit rate, for people and as JSON', async () => {
    const dir = tempDir();
    const { stats } = await populate(dir);
    const human = await cacheCli(dir, ['stats']);
    expect(human.code).toBe(0);
    expect(human.stdout.split('\n')).toEqual([
      `Response cache: ${dir}`,
      `  entries:   5, with 1 image/video file(s) (29.3 KB)`,
      `  size:      ${(stats.bytes / 1024).toFixed(1)} KB of 10.0 MB (least recently used entries go past that)`,
      `  hit rate:  66.7% (2 hits, 1 misses)`,
      `  least recently used entry last used ${new Date(stats.oldestUsedAt!).toISOString()}`,
      '',
    ]);
    const json = await cacheCli(dir, ['stats', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      dir,
      entries: 5,
      bytes: stats.bytes,
      blobs: 1,
      blob_bytes: 30_000,
      max_bytes: 10 * 1024 ** 2,
      hits: 2,
      misses: 1,
      hit_rate: 0.6667,
      oldest_used_at: new Date(stats.oldestUsedAt!).toISOString(),
    });
  });

  it('stats on a cache never used: empty, no lookups yet (the folder is created)', async () => {
    const dir = join(tempDir(), 'fresh');
    const result = await cacheCli(dir, ['stats']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('  hit rate:  no lookups yet\n');
    expect(result.stdout).toContain('  entries:   0, with 0 image/video file(s) (0 B)\n');
  });

  it('prune --max-size evicts the least recently used entries, and the image file once no entry uses it; --older-than keeps recent ones', async () => {
    const dir = tempDir();
    const { stats } = await populate(dir);
    const recent = await cacheCli(dir, ['prune', '--older-than', '30d', '--json']);
    expect(recent.code).toBe(0);
    expect(JSON.parse(recent.stdout)).toMatchObject({ evicted_entries: 0, freed_bytes: 0, entries: 5 });

    // Down to less than the image: every entry using it goes (hero 1 before the rest), and its file with the last of them.
    const pruned = await cacheCli(dir, ['prune', '--max-size', `${stats.bytes - 30_000 - 1}`]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(
      new RegExp(`^Pruned the response cache in ${dir}: \\d entries evicted, 0 orphan file\\(s\\) and 0 temp file\\(s\\) removed, `),
    );
    expect(blobFiles(dir)).toEqual([]);
    const cache = ResponseCache.open({ dir, env: {} });
    try {
      expect(await cache.get(key('hero 1', 'image'))).toBeUndefined();
      expect(await cache.get(key('hero 2', 'image'))).toBeUndefined();
      // c was read last: it stays.
      expect(await cache.get(key('c'))).toBeDefined();
    } finally {
      cache.close();
    }
  });

  it('clear removes every entry and file, and says how many', async () => {
    const dir = tempDir();
    const { stats } = await populate(dir);
    const result = await cacheCli(dir, ['clear']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`Cleared the response cache in ${dir}: 5 entries, ${(stats.bytes / 1024).toFixed(1)} KB.\n`);
    expect(blobFiles(dir)).toEqual([]);
    expect(JSON.parse((await cacheCli(dir, ['stats', '--json'])).stdout)).toMatchObject({ entries: 0, bytes: 0, hits: 0, misses: 0 });
  });

  it('a damaged cache file: stats says so and what to do (exit 1), clear removes it and the cache starts empty', async () => {
    const dir = tempDir();
    await populate(dir);
    writeFileSync(join(dir, 'responses.db'), Buffer.alloc(4096, 'not sqlite '));
    const stats = await cacheCli(dir, ['stats']);
    expect(stats.code).toBe(1);
    expect(stats.stderr).toMatch(new RegExp(`^error: The response cache ${join(dir, 'responses.db')} is damaged \\(SQLite: .+\\); it is not used\\.\\n`));
    expect(stats.stderr).toContain('hint: Run `genbatch cache clear` to remove it');
    expect(stats.stderr).not.toContain('crashed');

    const cleared = await cacheCli(dir, ['clear', '--json']);
    expect(cleared.code).toBe(0);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ dir, entries: 0, removed_unusable: true });
    expect(JSON.parse(cleared.stdout).bytes).toBeGreaterThanOrEqual(4096 + 30_000);
    expect(blobFiles(dir)).toEqual([]);
    const after = await cacheCli(dir, ['stats', '--json']);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ entries: 0, blobs: 0 });
  });

  it('refuses bad flags and actions with exit 2 and a message naming them, before touching the cache', async () => {
    const dir = join(tempDir(), 'untouched');
    const size = await cacheCli(dir, ['prune', '--max-size', 'lots']);
    expect(size.code).toBe(2);
    expect(size.stderr).toBe('error: --max-size "lots": expected a size such as 500MB, 2GB or a number of bytes (MB and GB count in 1024s).\n');
    const age = await cacheCli(dir, ['prune', '--older-than', 'soon']);
    expect(age.code).toBe(2);
    expect(age.stderr).toBe('error: --older-than "soon": expected a duration above 0 such as 30d, 12h or 90m.\n');
    const env = await cacheCli(dir, ['stats'], { GENBATCH_CACHE_MAX_BYTES: 'big' });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('error: GENBATCH_CACHE_MAX_BYTES is "big": expected a size such as 500MB, 2GB or a number of bytes.');
    const misplaced = await cacheCli(dir, ['stats', '--max-size', '5MB']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain("error: unknown option '--max-size'");
    const unknown = await cacheCli(dir, ['purge']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'purge'");
    expect(unknown.stderr).toContain('(Did you mean prune?)');
    expect(existsSync(dir)).toBe(false);
  });

  it('several processes store and read at once: every answer kept, the shared image one file, no process loses the cache', async () => {
    const dir = tempDir();
    const writer = (name: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [join(REPO, 'bin', 'run-ts.js'), join(REPO, 'test', 'cache', 'concurrent-writer.ts'), dir, name, '150'], {
          cwd: REPO,
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`writer ${name} exited ${code}: ${err}`))));
      });
    const reports = (await Promise.all(['w1', 'w2', 'w3'].map(writer))).map(
      (out) => JSON.parse(out) as { name: string; hits: number; unavailable: string | null },
    );
    expect(reports).toEqual(['w1', 'w2', 'w3'].map((name) => ({ name, hits: 150, unavailable: null })));
    const stats = await cacheCli(dir, ['stats', '--json']);
    expect(JSON.parse(stats.stdout)).toMatchObject({ entries: 450, blobs: 1, blob_bytes: 8192, hits: 450, misses: 0 });
    expect(blobFiles(dir)).toHaveLength(1);
  });
});
