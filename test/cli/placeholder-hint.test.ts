import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runCli } from '../helpers/cli.js';

const readme = readFileSync(join(REPO, 'README.md'), 'utf8');

describe('a newcomer who forgets --emulator (issue 27.3)', () => {
  for (const command of ['estimate', 'validate'] as const) {
    it(`\`genbatch ${command}\` of an example is refused once, with the exact command to type`, async () => {
      // Read only: the example's placeholder keys are refused before anything is opened or written.
      const run = await runCli([command, 'jobs/blog-hero-images.yaml']);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`genbatch ${command} jobs/blog-hero-images.yaml --emulator`);
      // One hint for the three projects, not the same sentence three times.
      expect(run.stderr.match(/--emulator/g)).toHaveLength(1);
      expect(run.stderr).toContain('3 problems found; nothing was sent');
    });
  }

  it('keeps the flags typed and quotes what needs it', async () => {
    const run = await runCli(['estimate', join(REPO, 'jobs', 'blog-hero-images.yaml'), '--json']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`genbatch estimate ${join(REPO, 'jobs', 'blog-hero-images.yaml')} --json --emulator`);
  });

  it('the README says so where a newcomer reads first: the quick start (still two command lines) and the synopsis', () => {
    const quickStart = readme.split('## Quick start')[1]?.split('\n## ')[0] ?? '';
    const block = quickStart.match(/```sh\n([\s\S]*?)```/)?.[1] ?? '';
    expect(block.trim().split('\n')).toEqual(['npm ci && npm run demo', 'npm test']);
    expect(quickStart).toMatch(/--emulator/);
    expect(readme).toMatch(/\| `genbatch validate JOB \[--emulator\]`/);
    expect(readme).toMatch(/\| `genbatch estimate JOB \[--emulator\]/);
  });
});
