import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runCli, type CliResult } from '../helpers/cli.js';
import { spawn } from 'node:child_process';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/**
 * genbatch as `npm install -g` (or npx) lays it out: the package's files under …/node_modules/genbatch,
 * its dependencies beside it (here a link to the checkout's).
 */
function installedPackage(): { root: string; bin: string } {
  const root = join(tempDir(), 'lib', 'node_modules', 'genbatch');
  for (const part of ['package.json', 'bin', 'dist', 'jobs', 'prices', 'docs/job.schema.json', 'fixtures/blog-posts.csv', 'fixtures/credentials.emulator.yaml'])
    cpSync(join(REPO, part), join(root, part), { recursive: true, filter: (src) => !src.includes('.genbatch') });
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
  return { root, bin: join(root, 'bin', 'genbatch.js') };
}

function runInstalled(bin: string, args: string[], cwd: string): Promise<CliResult> {
  const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

describe('examples of an installed genbatch (issue 27.2)', () => {
  it('an example run in place inside the package is refused (exit 2) with the command that copies it out; nothing is written there', async () => {
    const { root, bin } = installedPackage();
    const cwd = tempDir();
    const run = await runInstalled(bin, ['run', join(root, 'jobs', 'catalogue-alt-text.yaml'), '--emulator', '--yes', '--plain'], cwd);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('inside the installed genbatch package');
    expect(run.stderr).toContain('genbatch init catalogue-alt-text && genbatch run jobs/catalogue-alt-text.yaml --emulator');
    expect(existsSync(join(root, 'jobs', '.genbatch'))).toBe(false);
    expect(existsSync(join(root, 'out'))).toBe(false);
    // A pilot writes too: refused the same way. A plain estimate or validate only reads, and is allowed.
    expect((await runInstalled(bin, ['estimate', join(root, 'jobs', 'catalogue-alt-text.yaml'), '--pilot', '1', '--emulator', '--yes'], cwd)).code).toBe(2);
    expect((await runInstalled(bin, ['validate', join(root, 'jobs', 'catalogue-alt-text.yaml'), '--emulator'], cwd)).code).toBe(0);
  });

  it('`genbatch init NAME` copies the example, its input and the emulator credentials here; the copy runs and writes under the current folder', async () => {
    const { root, bin } = installedPackage();
    const cwd = tempDir();
    const init = await runInstalled(bin, ['init', 'catalogue-alt-text'], cwd);
    expect(init.code).toBe(0);
    expect(init.stderr).toContain('genbatch run jobs/catalogue-alt-text.yaml --emulator');
    // The job schema the example names for editors (`$schema=../docs/job.schema.json`) comes along.
    expect(readdirSync(cwd, { recursive: true }).map(String).sort()).toEqual([
      'docs',
      'docs/job.schema.json',
      'fixtures',
      'fixtures/credentials.emulator.yaml',
      'jobs',
      'jobs/catalogue-alt-text.yaml',
      'jobs/data',
      'jobs/data/products.csv',
    ]);
    const run = await runInstalled(bin, ['run', 'jobs/catalogue-alt-text.yaml', '--emulator', '--yes', '--plain'], cwd);
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(readFileSync(join(cwd, 'out', 'catalogue-alt-text', 'alt-text.csv'), 'utf8')).toMatch(/^id,/);
    expect(existsSync(join(cwd, 'jobs', '.genbatch', 'catalogue-alt-text.db'))).toBe(true);
    expect(existsSync(join(root, 'out'))).toBe(false);
    expect(existsSync(join(root, 'jobs', '.genbatch'))).toBe(false);
  });

  it('never overwrites: a second init is refused (exit 2) and leaves the files as they are; an unknown name lists the examples', async () => {
    const cwd = tempDir();
    expect((await runCli(['init', 'blog-hero-images', 'rehearsal'], { cwd })).code).toBe(0);
    const job = join(cwd, 'rehearsal', 'jobs', 'blog-hero-images.yaml');
    expect(readFileSync(join(cwd, 'rehearsal', 'fixtures', 'blog-posts.csv'), 'utf8')).toBe(readFileSync(join(REPO, 'fixtures', 'blog-posts.csv'), 'utf8'));
    writeFileSync(job, '# edited\n');
    const again = await runCli(['init', 'blog-hero-images', 'rehearsal'], { cwd });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exist.*nothing was copied/);
    expect(readFileSync(job, 'utf8')).toBe('# edited\n');

    // Another example beside it: the emulator credentials and the schema it shares with the first are
    // the package's very bytes, so they are kept, not a clash.
    const second = await runCli(['init', 'catalogue-alt-text', 'rehearsal'], { cwd });
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('jobs/catalogue-alt-text.yaml');
    expect(second.stderr).not.toContain('credentials.emulator.yaml');
    expect(readFileSync(job, 'utf8')).toBe('# edited\n');

    mkdirSync(join(cwd, 'other'));
    const unknown = await runCli(['init', 'blog-heros'], { cwd: join(cwd, 'other') });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('There is no example named "blog-heros"');
    expect(unknown.stderr).toContain('blog-hero-images, catalogue-alt-text');
    expect(readdirSync(join(cwd, 'other'))).toEqual([]);
  });
});
