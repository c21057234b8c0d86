import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { schemaCommand } from '../../src/cli/commands/schema.js';
import { REPO } from '../helpers/cli.js';

function printedSchema(): string {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (d: Buffer) => (text += d.toString()));
  schemaCommand({ stdout, stderr: new PassThrough() } as unknown as Parameters<typeof schemaCommand>[0]);
  return text;
}

describe('docs/job.schema.json', () => {
  it('is what `genbatch schema` prints from the zod schema now (regenerate with: npm run schema)', () => {
    expect(readFileSync(join(REPO, 'docs', 'job.schema.json'), 'utf8')).toBe(printedSchema());
  });

  it('is the schema every example job names on its $schema line', () => {
    for (const file of readdirSync(join(REPO, 'jobs')).filter((f) => f.endsWith('.yaml'))) {
      const text = readFileSync(join(REPO, 'jobs', file), 'utf8');
      expect([file, /^# yaml-language-server: \$schema=(\S+)$/m.exec(text)?.[1]]).toEqual([file, '../docs/job.schema.json']);
    }
  });
});
