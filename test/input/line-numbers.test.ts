import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectInput, openInput } from '../../src/input/index.js';
import { READ_CHUNK_BYTES } from '../../src/input/decode.js';
import { collect, fixture, tempDir } from './helpers.js';

describe('line numbers', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('are where each row starts, as an editor counts, after quoted cells with line breaks', async () => {
    const file = fixture('input/multiline-quoted.csv');
    const report = await inspectInput(file);
    expect(report.rows).toBe(5);
    expect(report.problems.map((p) => [p.line, p.kind])).toEqual([[9, 'extra_cells']]);
    const records = await collect((await openInput({ file, onBadRow: 'repair' })).records());
    expect(records.map((r) => r.line)).toEqual([2, 5, 6, 9, 10]);
    expect(records[0]?.values['meta_description']).toBe('Rebase rewrites history.\nMerge preserves it.\nAgree on a team policy.');
    expect(records[2]?.values['meta_description']).toBe('Chains, SANs and renewal.\n\nStop certificate outages.');
  });

  it('stay exact across read chunks with CRLF inside and between quoted cells', async () => {
    // Every row spans two lines (a CRLF inside its quoted cell), and the file spans many read chunks,
    // so CR/LF pairs and multi-byte characters fall on chunk boundaries somewhere.
    const rows = ['id,note'];
    for (let i = 0; i < 4000; i++) rows.push(`${i},"first line ü ${i}\r\nsecond line"`);
    rows.push('4000,a,extra');
    const file = join(dir, 'crlf.csv');
    await writeFile(file, rows.join('\r\n') + '\r\n');
    const records = await collect((await openInput({ file, onBadRow: 'skip' })).records());
    expect(records).toHaveLength(4000);
    expect(records.every((r, i) => r.line === 2 + 2 * i && r.values['id'] === String(i))).toBe(true);
    const report = await inspectInput(file);
    expect(report.problems.map((p) => p.line)).toEqual([2 + 2 * 4000]);
    expect(READ_CHUNK_BYTES * 2).toBeLessThan(rows.join('\r\n').length);
  });

  it('skip blank rows (empty, whitespace or delimiters only) wherever they are, count them, and keep the lines of the rows after them', async () => {
    const file = join(dir, 'blanks.csv');
    // Before the header, in the middle (empty, " , ", ";;;"-style ",") and at the end.
    await writeFile(file, '\na,b\n1,2\n\n , \n3,4\n\n,\n\n');
    const report = await inspectInput(file);
    expect(report).toMatchObject({ rows: 2, blank_lines: 6, problems: [], problem_count: 0 });
    // The default policy (fail) reads them: a blank line is not a bad row.
    const records = await collect((await openInput({ file })).records());
    expect(records).toEqual([
      { line: 3, values: { a: '1', b: '2' } },
      { line: 6, values: { a: '3', b: '4' } },
    ]);
  });

  it('name the row where an unclosed quote starts', async () => {
    const report = await inspectInput(fixture('input/mixed-problems.csv'));
    expect(report.problems.map((p) => [p.line, p.kind])).toEqual([
      [4, 'missing_cells'],
      [7, 'extra_cells'],
      [8, 'extra_cells'],
      [10, 'unterminated_quote'],
    ]);
    expect(report.problems[3]).toMatchObject({ cells: 2, expected: 3 });
    expect(report.blank_lines).toBe(1);
    expect(report.rows).toBe(8);
  });
});
