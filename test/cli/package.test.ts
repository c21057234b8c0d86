import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 580_000 });

interface PackResult {
  filename: string;
  files: { path: string }[];
}

/** The files git tracks in the checkout (what a clone has before anything runs). */
const tracked = (): string[] => execFileSync('git', ['ls-files', '-z'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter(Boolean);

/**
 * A copy of the checkout as a newcomer has it after the quick start: the tracked files, dist/ as the
 * build made it, the installed node_modules (a link), and the demo run in it (`npm run demo`, on the
 * first items only: the same files are written as by the whole demo, in seconds instead of a minute).
 */
function checkoutAfterDemo(): string {
  const dir = tempDir();
  for (const file of tracked()) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(REPO, file), join(dir, file));
  }
  cpSync(join(REPO, 'dist'), join(dir, 'dist'), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  npm(['run', 'demo', '--', '--limit', '3', '--plain'], dir);
  return dir;
}

/** What no package may hold: run state, backups, logs, outputs (they carry the packer's paths and answers). */
const RUN_LEFTOVERS = /(^|\/)\.genbatch\/|(^|\/)out\/|\.db$|\.db-(wal|shm)$|\.bak$|\.checked$|\.jsonl$|\.log$|\.tmp\//;

describe('the npm package', () => {
  it('packs the compiled CLI, the library with its types, the prices and the examples; no sources, tests or dev tools', () => {
    const [pack] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], REPO)) as PackResult[];
    const files = new Set((pack?.files ?? []).map((f) => f.path));
    for (const needed of [
      'bin/genbatch.js',
      'dist/cli/entry.js',
      'dist/cli/genbatch.cjs',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/library/run-job.d.ts',
      'prices/catalog.yaml',
      'jobs/catalogue-alt-text.yaml',
      'jobs/data/products.csv',
      'fixtures/credentials.emulator.yaml',
      'docs/library.md',
      'README.md',
      'package.json',
    ])
      expect([needed, files.has(needed)]).toEqual([needed, true]);
    const unwanted = [...files].filter((f) => /^(src|test|bench|scripts)\/|^bin\/run-ts\.js$|\.map$|\.tsbuildinfo$|^\.genbatch|(^|\/)out\//.test(f));
    expect(unwanted).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; import: string }>; types: string };
    expect(pkg.exports['.']).toMatchObject({ types: './dist/index.d.ts', import: './dist/index.js' });
    expect(pkg.types).toBe('./dist/index.d.ts');
  });

  it('packed after the demo ran in the checkout, holds only what git tracks and the build makes (issue 27.1)', () => {
    const dir = checkoutAfterDemo();
    // The demo did leave its state, backup, logs and outputs in the checkout…
    const left = readdirSync(join(dir, 'jobs', '.genbatch'), { recursive: true }).map(String);
    expect(left).toEqual(expect.arrayContaining(['blog-hero-images.db', 'blog-hero-images.db.bak', 'logs']));
    expect(existsSync(join(dir, 'out', 'blog-hero-images', 'results.csv'))).toBe(true);
    // …and none of it is packed.
    const packed = tempDir();
    const [pack] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', packed], dir)) as PackResult[];
    const files = (pack?.files ?? []).map((f) => f.path);
    expect(files.filter((f) => RUN_LEFTOVERS.test(f))).toEqual([]);
    const gitFiles = new Set(tracked());
    expect(files.filter((f) => !f.startsWith('dist/') && !gitFiles.has(f))).toEqual([]);
    // Every tracked example, input, doc and price list is in (a narrower "files" would drop one silently).
    const shipped = [...gitFiles].filter((f) => /^(jobs|docs|prices)\//.test(f) && !f.endsWith('.gitattributes'));
    expect(shipped.filter((f) => !files.includes(f))).toEqual([]);

    // The tarball laid out as a global install (lib/node_modules/genbatch; its dependencies linked, as
    // the offline install below cannot fetch them here): the demo from it does the work.
    const root = join(packed, 'lib', 'node_modules', 'genbatch');
    mkdirSync(root, { recursive: true });
    execFileSync('tar', ['-xzf', join(packed, pack?.filename ?? ''), '-C', root, '--strip-components', '1']);
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
    const bin = join(root, 'bin', 'genbatch.js');
    const app = tempDir();
    const cli = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: app, encoding: 'utf8', timeout: 120_000 });
    const inPlace = cli(['run', join(root, 'jobs', 'blog-hero-images.yaml'), '--emulator', '--yes', '--plain']);
    expect(inPlace.status).toBe(2);
    expect(inPlace.stderr).toContain('genbatch init blog-hero-images');
    expect(cli(['init', 'blog-hero-images']).status).toBe(0);
    const run = cli(['run', 'jobs/blog-hero-images.yaml', '--emulator', '--yes', '--plain', '--limit', '3']);
    expect(run.stderr).not.toMatch(/Nothing to do/);
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(readdirSync(join(app, 'out', 'blog-hero-images', 'images'))).toHaveLength(3);
    expect(readdirSync(root).sort()).toEqual(['README.md', 'bin', 'dist', 'docs', 'fixtures', 'jobs', 'node_modules', 'package.json', 'prices']);
    expect(existsSync(join(root, 'jobs', '.genbatch'))).toBe(false);
  }, 180_000);

  // Installs from the tarball with the registry's packages taken from the npm cache only (--offline): a
  // fresh machine would fetch them; what is checked is that the tarball alone is a working install.
  // It compiles better-sqlite3 again (2–3 minutes on 2 cores), too slow for `npm test`'s 10 minutes:
  // `npm run test:package` runs it (before a release).
  it.skipIf(!process.env.GENBATCH_PACKAGE_TEST)(
    'installs from the tarball into an empty folder without dev dependencies, and runs --version, an example job and the library',
    () => {
      const dir = tempDir();
      const [pack] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], checkoutAfterDemo())) as PackResult[];
      const app = join(dir, 'app');
      execFileSync('mkdir', [app]);
      writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true, "type": "module" }\n');
      npm(['install', join(dir, pack?.filename ?? ''), '--omit=dev', '--offline', '--no-audit', '--no-fund'], app);
      for (const dev of ['typescript', 'tsx', 'vitest', 'eslint', 'playwright-core'])
        expect([dev, existsSync(join(app, 'node_modules', dev))]).toEqual([dev, false]);
      const bin = join(app, 'node_modules', '.bin', 'genbatch');
      const version = spawnSync(bin, ['--version'], { cwd: app, encoding: 'utf8' });
      expect(version.stdout.trim()).toBe('0.1.0');
      expect(version.status).toBe(0);
      // An example run in place would write into the package: refused, with the command that copies it out.
      const inPlace = spawnSync(bin, ['run', 'node_modules/genbatch/jobs/blog-hero-images.yaml', '--emulator', '--yes', '--plain'], {
        cwd: app,
        encoding: 'utf8',
      });
      expect(inPlace.stderr).toContain('genbatch init blog-hero-images');
      expect(inPlace.status).toBe(2);
      expect(existsSync(join(app, 'node_modules', 'genbatch', 'jobs', '.genbatch'))).toBe(false);
      const init = spawnSync(bin, ['init', 'blog-hero-images'], { cwd: app, encoding: 'utf8' });
      expect(init.status).toBe(0);
      // The demo from the package does the work (the tarball was packed after the demo ran in the checkout).
      const run = spawnSync(bin, ['run', 'jobs/blog-hero-images.yaml', '--emulator', '--yes', '--plain', '--limit', '5'], {
        cwd: app,
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
      expect(run.stderr).not.toMatch(/Nothing to do/);
      expect(run.status).toBe(0);
      expect(readdirSync(join(app, 'out', 'blog-hero-images', 'images'))).toHaveLength(5);
      expect(existsSync(join(app, 'node_modules', 'genbatch', 'out'))).toBe(false);
      writeFileSync(
        join(app, 'use.js'),
        "import { loadJob } from 'genbatch';\nconsole.log((await loadJob('node_modules/genbatch/jobs/nightly-digest.yaml', { emulator: true })).job.name);\n",
      );
      const library = spawnSync(process.execPath, ['use.js'], { cwd: app, encoding: 'utf8' });
      expect({ out: library.stdout.trim(), err: library.stderr }).toEqual({ out: 'nightly-digest', err: '' });
      expect(existsSync(join(app, 'node_modules', 'genbatch', 'dist', 'index.d.ts'))).toBe(true);
    },
    600_000,
  );
});
