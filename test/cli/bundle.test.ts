import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const BUNDLE = join(DIST, 'cli', 'genbatch.cjs');
const tempDir = useTempDir();

/** `npm run build` makes the bundle (npm ci in a clone runs it); without it bin/ runs the ES modules. */
describe.skipIf(!existsSync(BUNDLE))('the bundled CLI (dist/cli/genbatch.cjs)', () => {
  it('runs from a V8 code cache that its first command writes (in the user\u2019s own cache folder, 0700) and later ones use as it is', () => {
    const home = tempDir();
    const env = { ...process.env, XDG_CACHE_HOME: home };
    const first = spawnSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' });
    expect(first.status).toBe(0);
    expect(first.stdout.trim()).toBe('0.1.0');
    const folder = join(home, 'genbatch-code-cache');
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    const files = readdirSync(folder);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`-${process.version.replace(/\./g, '\\.')}-${process.arch}\\.bin$`));
    const written = statSync(join(folder, files[0] as string));
    expect(written.mode & 0o777).toBe(0o600);
    // A cache V8 accepts is not written again.
    const second = spawnSync(process.execPath, [BIN, 'validate', '--help'], { env, encoding: 'utf8' });
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('validate');
    expect(readdirSync(folder)).toEqual(files);
    expect(statSync(join(folder, files[0] as string)).mtimeMs).toBe(written.mtimeMs);
  });

  it('neither reads nor writes a cache in a folder that others can write or another user owns', () => {
    // The cache file's name, from a folder of the user's own.
    const own = tempDir();
    expect(spawnSync(process.execPath, [BIN, '--version'], { env: { ...process.env, XDG_CACHE_HOME: own } }).status).toBe(0);
    const [name = ''] = readdirSync(join(own, 'genbatch-code-cache'));
    // What someone else could have put there under that name: a command that read it would find V8
    // rejecting it and write its own over it.
    const home = tempDir();
    const folder = join(home, 'genbatch-code-cache');
    mkdirSync(folder);
    chmodSync(folder, 0o777);
    writeFileSync(join(folder, name), 'not a code cache');
    const unchanged = (): void => {
      expect(readdirSync(folder)).toEqual([name]);
      expect(readFileSync(join(folder, name), 'utf8')).toBe('not a code cache');
    };
    const env = { ...process.env, XDG_CACHE_HOME: home };
    const open = spawnSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' });
    expect(open.stdout.trim()).toBe('0.1.0');
    unchanged();
    if (process.getuid?.() === 0) {
      // As root (CI): a private folder, but another user's.
      chmodSync(folder, 0o700);
      chownSync(folder, 4242, 4242);
      expect(spawnSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' }).stdout.trim()).toBe('0.1.0');
      unchanged();
    }
  });

  it('gives every module that finds files beside itself its own dist/ place (migrations, prices, worker scripts, the examples)', () => {
    const bundle = readFileSync(BUNDLE, 'utf8');
    const owners = [...bundle.matchAll(/__genbatchModuleUrl\("([^"]+)"\)/g)].map((m) => m[1] as string);
    expect(owners.sort()).toEqual(['estimate/price-catalog.js', 'input/scan-job-rows.js', 'input/sync-rows.js', 'job/examples.js', 'store/migrate.js']);
    for (const owner of owners) expect(existsSync(join(DIST, owner))).toBe(true);
    for (const worker of ['input/scan-job-rows-worker.js', 'input/sync-rows-worker.js', 'store/migrations']) expect(existsSync(join(DIST, worker))).toBe(true);
    expect(bundle).not.toContain('import.meta.url');
  });
});
