import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 580_000 });

interface PackResult {
  filename: string;
  files: { path: string }[];
}

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

  // Installs from the tarball with the registry's packages taken from the npm cache only (--offline): a
  // fresh machine would fetch them; what is checked is that the tarball alone is a working install.
  // It compiles better-sqlite3 again (2–3 minutes on 2 cores), too slow for `npm test`'s 10 minutes:
  // `npm run test:package` runs it (before a release).
  it.skipIf(!process.env.GENBATCH_PACKAGE_TEST)(
    'installs from the tarball into an empty folder without dev dependencies, and runs --version, an example job and the library',
    () => {
      const dir = tempDir();
      const [pack] = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], REPO)) as PackResult[];
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
      const run = spawnSync(bin, ['run', 'node_modules/genbatch/jobs/catalogue-alt-text.yaml', '--emulator', '--yes', '--plain'], {
        cwd: app,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
      expect(run.status).toBe(0);
      expect(readFileSync(join(app, 'node_modules', 'genbatch', 'out', 'catalogue-alt-text', 'alt-text.csv'), 'utf8').split('\n')[0]).toMatch(/^id,/);
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
