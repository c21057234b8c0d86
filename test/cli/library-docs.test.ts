import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

describe('docs/library.md', () => {
  it("its example runs as written, importing 'genbatch' through the package's exports (dist/)", () => {
    const doc = readFileSync(join(REPO, 'docs', 'library.md'), 'utf8');
    const code = /```js\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(code).toContain("from 'genbatch'");
    const dir = tempDir();
    cpSync(join(REPO, 'jobs'), join(dir, 'jobs'), { recursive: true, filter: (src) => !src.includes('.genbatch') });
    cpSync(join(REPO, 'fixtures', 'credentials.emulator.yaml'), join(dir, 'fixtures', 'credentials.emulator.yaml'));
    // As if installed: node_modules/genbatch is the package (its package.json `exports` decide what resolves).
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(REPO, join(dir, 'node_modules', 'genbatch'), 'dir');
    writeFileSync(join(dir, 'example.mjs'), code ?? '');
    const result = spawnSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^4 items, about \$\d+\.\d{4}$/m);
    expect(result.stdout.match(/^done \S+ \(describe\) \$/gm)).toHaveLength(4);
    expect(result.stdout).toMatch(/^finished \(exit 0\): 4\/4 done, \$[\d.]+$/m);
    expect(result.stdout).toMatch(/^rejected: mug-01; 4 done$/m);
  });
});
