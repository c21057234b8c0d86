import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCredentials } from '../../src/credentials/load-credentials.js';
import { parseEmulatorConfig } from '../../src/emulator/index.js';
import { compileJob } from '../../src/job/compile-job.js';
import { parseLocated } from '../../src/job/source-locator.js';
import { REPO } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/** Every ```yaml block of the README and docs/, with where it came from. */
function yamlBlocks(): { where: string; text: string }[] {
  const files = [
    'README.md',
    ...readdirSync(join(REPO, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => join('docs', f)),
  ];
  const blocks: { where: string; text: string }[] = [];
  for (const file of files) {
    const content = readFileSync(join(REPO, file), 'utf8');
    let index = 0;
    for (const match of content.matchAll(/```yaml\n([\s\S]*?)```/g)) blocks.push({ where: `${file} block ${++index}`, text: match[1] ?? '' });
  }
  return blocks;
}

describe('examples in the docs are valid', () => {
  const blocks = yamlBlocks();
  it('there are examples to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
  });
  for (const block of blocks) {
    it(block.where, async () => {
      const located = parseLocated(block.text);
      const value = located.value as Record<string, unknown>;
      if ('steps' in value) {
        expect(() => compileJob(value, `${block.where}.yaml`, located.lineOf)).not.toThrow();
      } else if ('projects' in value && Array.isArray(value.projects)) {
        const file = join(tempDir(), 'credentials.yaml');
        writeFileSync(file, block.text);
        await expect(loadCredentials(file, { emulated: true })).resolves.toMatchObject({ projects: expect.any(Array) });
      } else if ('seed' in value || 'projects' in value) {
        expect(() => parseEmulatorConfig(value)).not.toThrow();
      } else {
        throw new Error(`${block.where}: not a job, credentials or emulator example; mark other YAML as \`\`\`text`);
      }
    });
  }
});
