import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectCommand } from '../../src/cli/commands/inspect.js';
import { repairCommand } from '../../src/cli/commands/repair.js';
import { captureIO, fixture, tempDir } from './helpers.js';

describe('genbatch inspect', () => {
  it('prints the JSON of product.md, key for key, and exits 1 when it finds problems', async () => {
    const io = captureIO();
    const code = await inspectCommand(fixture('input/pipe-export-broken.csv'), { json: true }, io);
    expect(code).toBe(1);
    const report = JSON.parse(io.out()) as Record<string, unknown> & { problems: Record<string, unknown>[] };
    expect(Object.keys(report)).toEqual([
      'format',
      'encoding',
      'bom',
      'delimiter',
      'quote',
      'header',
      'columns',
      'rows',
      'problems',
      'problem_count',
      'blank_lines',
    ]);
    expect(report).toMatchObject({
      format: 'csv',
      encoding: 'utf-8',
      bom: false,
      delimiter: '|',
      quote: '"',
      header: ['title', 'slug', 'meta_description'],
      columns: 3,
      rows: 25,
    });
    expect(report.problems[0]).toEqual({
      line: 8,
      kind: 'extra_cells',
      cells: 4,
      expected: 3,
      repair: { column: 'title', value: 'PostgreSQL vs MySQL vs SQLite | Which Database Should You Choose?' },
      message: expect.any(String),
    });
    expect(io.err()).toBe('');
  });

  it('prints exactly the example of docs/inspect.md for the source’s broken export', async () => {
    const doc = await readFile(fileURLToPath(new URL('../../docs/inspect.md', import.meta.url)), 'utf8');
    const example = /```json\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const io = captureIO();
    await inspectCommand(fixture('input/pipe-export-broken.csv'), { json: true }, io);
    expect(JSON.parse(io.out())).toEqual(JSON.parse(example!));
  });

  it('prints a readable report and exits 0 for a clean file', async () => {
    const io = captureIO();
    expect(await inspectCommand(fixture('blog-posts.csv'), {}, io)).toBe(0);
    expect(io.out()).toContain('comma (,)');
    expect(io.out()).toContain('rows      289');
    expect(io.out()).toContain('problems  none');
  });

  it('lists problem lines in the readable report', async () => {
    const io = captureIO();
    expect(await inspectCommand(fixture('input/mixed-problems.csv'), {}, io)).toBe(1);
    for (const line of [4, 7, 8, 10]) expect(io.out()).toContain(`line ${line}: `);
    // Line 5 is blank: skipped and counted, not a problem.
    expect(io.out()).not.toContain('line 5: ');
    expect(io.out()).toContain('rows      8 (1 blank line skipped)');
    expect(io.out()).toContain('3 of these rows have no safe repair');
  });

  it('exits 2 with the reason on stderr when the file cannot be read', async () => {
    const io = captureIO();
    expect(await inspectCommand(fixture('input/invalid-utf8.csv'), { json: true }, io)).toBe(2);
    expect(io.out()).toBe('');
    expect(io.err()).toMatch(/^error: .*invalid-utf8\.csv:4: the file is not valid UTF-8/);
    expect(io.err()).toMatch(/\nhint: /);
  });
});

describe('genbatch repair', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('writes the clean file and says what it did', async () => {
    const io = captureIO();
    const out = join(dir, 'clean.csv');
    expect(await repairCommand(fixture('input/pipe-export-broken.csv'), { out }, io)).toBe(0);
    expect(io.out()).toBe(`Wrote ${out}: 25 rows, 4 repaired.\n`);
    expect(await readFile(out, 'utf8')).toContain('"PostgreSQL vs MySQL vs SQLite | Which Database Should You Choose?"|database-comparison|');
    const check = captureIO();
    expect(await inspectCommand(out, { json: true }, check)).toBe(0);
  });

  it('lists the rows it cannot repair and exits 1 without writing', async () => {
    const io = captureIO();
    expect(await repairCommand(fixture('input/mixed-problems.csv'), { out: join(dir, 'clean.csv') }, io)).toBe(1);
    expect(io.err()).toContain('3 bad rows with no safe repair; nothing was written');
    for (const line of [4, 8, 10]) expect(io.err()).toContain(`line ${line}: `);
  });

  it('refuses to overwrite the input (exit 2)', async () => {
    const input = join(dir, 'posts.csv');
    await copyFile(fixture('input/pipe-export-broken.csv'), input);
    const io = captureIO();
    expect(await repairCommand(input, { out: input }, io)).toBe(2);
    expect(io.err()).toContain('Refusing to overwrite the input file');
  });
});
