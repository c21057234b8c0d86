import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach } from 'vitest';

/**
 * The response cache (docs/cache.md) is shared by every job of a user: tests must not share it, or
 * one test's answers would serve another's requests and its counts of calls would be wrong. Each
 * test file gets its own cache folder (for work done in beforeAll), and each test a fresh one; CLI
 * processes the tests spawn inherit it. A test that wants to show the cache across runs sets
 * GENBATCH_CACHE_DIR itself.
 */
const made: string[] = [];
function freshCacheDir(): void {
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-cache-'));
  made.push(dir);
  process.env.GENBATCH_CACHE_DIR = dir;
}

freshCacheDir();
const fileLevel = process.env.GENBATCH_CACHE_DIR;
beforeEach(freshCacheDir);
afterEach(() => {
  process.env.GENBATCH_CACHE_DIR = fileLevel;
});
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
