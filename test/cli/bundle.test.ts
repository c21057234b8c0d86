import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
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
  it('runs from a V8 code cache that its first command writes (per user, under TMPDIR) and later ones use as it is', () => {
    const tmp = tempDir();
    const env = { ...process.env, TMPDIR: tmp };
    const first = spawnSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' });
    expect(first.status).toBe(0);
    expect(first.stdout.trim()).toBe('0.1.0');
    const folder = join(tmp, `genbatch-code-cache-${process.getuid?.() ?? 'user'}`);
    const files = readdirSync(folder);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`-${process.version.replace(/\./g, '\\.')}-${process.arch}\\.bin$`));
    const written = statSync(join(folder, files[0] as string));
    // A cache V8 accepts is not written again.
    const second = spawnSync(process.execPath, [BIN, 'validate', '--help'], { env, encoding: 'utf8' });
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('validate');
    expect(readdirSync(folder)).toEqual(files);
    expect(statSync(join(folder, files[0] as string)).mtimeMs).toBe(written.mtimeMs);
  });

  it('gives every module that finds files beside itself its own dist/ place (migrations, prices, worker scripts)', () => {
    const bundle = readFileSync(BUNDLE, 'utf8');
    const owners = [...bundle.matchAll(/__genbatchModuleUrl\("([^"]+)"\)/g)].map((m) => m[1] as string);
    expect(owners.sort()).toEqual(['engine/scan-job-rows.js', 'engine/sync-rows.js', 'estimate/price-catalog.js', 'store/migrate.js']);
    for (const owner of owners) expect(existsSync(join(DIST, owner))).toBe(true);
    for (const worker of ['engine/scan-job-rows-worker.js', 'engine/sync-rows-worker.js', 'store/migrations'])
      expect(existsSync(join(DIST, worker))).toBe(true);
    expect(bundle).not.toContain('import.meta.url');
  });
});
