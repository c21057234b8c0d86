import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls } from '../helpers/billed.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { posts, writePostsCsv } from '../helpers/job-fixture.js';
import { bindReadOnly, canMount, unmount } from '../helpers/mounts.js';
import { stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Issue 25, point 16: a response cache folder that cannot be written (a read-only mount here: the
 * tests run as root, whom chmod does not stop) was not read either, and the 20 answers it held were
 * paid again. It is read now, and the run says once that nothing new is stored.
 */
const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
let mounted: string | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
  if (mounted) unmount(mounted);
  mounted = undefined;
});

/** Every file under a folder with its size and time: what a read-only cache must keep as it was. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => {
      const file = join(d.parentPath, d.name);
      const stat = statSync(file);
      return `${file} ${stat.size} ${stat.mtimeMs}`;
    })
    .sort();
}

describe.skipIf(!canMount)('a read-only response cache folder (a real read-only bind mount)', () => {
  it('its 20 answers are used (no call for them), the run warns once that nothing new is stored, and `cache clear` refuses saying why', async () => {
    const dir = tempDir();
    const cacheDir = join(dir, 'cache');
    const env = { GENBATCH_CACHE_DIR: cacheDir };
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 1 }), { port: 0 });
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const job = writeJob(dir, { items: 20, steps: BRIEF_STEP, limits: '{ concurrency: 4 }' });
    const first = await runCli(['run', job, '--yes', '--plain'], { env });
    expect(first.code, first.stderr.slice(-800)).toBe(0);
    expect(billedCalls(emulator)).toBe(20);

    // The same job under another name (its own state: nothing done), and 5 more items the cache has not seen.
    const copy = join(dir, 'copy.yaml');
    writeFileSync(
      copy,
      readFileSync(job, 'utf8')
        .replace(/^name: .*$/m, 'name: copy-job')
        .replace('posts.csv', 'more-posts.csv'),
    );
    writePostsCsv(join(dir, 'more-posts.csv'), posts(25));
    mounted = cacheDir;
    bindReadOnly(cacheDir);
    const before = snapshot(cacheDir);

    const second = await runCli(['run', copy, '--yes', '--plain'], { env });
    expect(second.stderr).not.toMatch(/crashed|This is a bug|\n\s+at /);
    expect(second.code, second.stderr.slice(-1500)).toBe(0);
    expect(stepStates(join(dir, '.genbatch', 'copy-job.db'))).toEqual({ done: 25 });
    // The 20 answers held were used: only the 5 new items were paid.
    expect(billedCalls(emulator)).toBe(25);
    const warnings = second.stderr.match(/response cache in .*cache is read-only.*/g) ?? [];
    expect(warnings, second.stderr).toHaveLength(1);
    expect(warnings[0]).toMatch(/the answers it holds are used; nothing new is stored in it/);
    expect(snapshot(cacheDir)).toEqual(before);

    // `cache stats` reads it; `cache clear` cannot empty it, and says why.
    const stats = await runCli(['cache', 'stats'], { env });
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toMatch(/entries: +20,/);
    const clear = await runCli(['cache', 'clear'], { env });
    expect(clear.code).not.toBe(0);
    expect(clear.stderr).toMatch(/response cache in .*cache is read-only \(EROFS\): it cannot be cleared/);
    expect(snapshot(cacheDir)).toEqual(before);
  });
});
