import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/config-error.js';
import { badRowsError, openInput, unhandledProblems, validateInput } from '../../src/input/index.js';
import { collect, fixture } from './helpers.js';

const PIPE = fixture('input/pipe-export-broken.csv');
const MIXED = fixture('input/mixed-problems.csv');

describe('bad-row policy', () => {
  it('fail (the default) throws a ConfigError naming the first bad row before handing it on', async () => {
    const opened = await openInput({ file: PIPE });
    const seen: number[] = [];
    const error = await (async () => {
      for await (const record of opened.records()) seen.push(record.line);
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ line: 8, code: 'INPUT_BAD_ROW', exitCode: 2 });
    expect((error as ConfigError).message).toMatch(/^.*pipe-export-broken\.csv:8: the row has 4 cells instead of 3/);
    expect((error as ConfigError).hint).toMatch(/on_bad_row/);
    expect(seen).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('validateInput finds every bad row in one pass, and badRowsError lists each line', async () => {
    const validation = await validateInput({ file: PIPE });
    expect(validation).toMatchObject({ format: 'csv', columns: ['title', 'slug', 'meta_description'], rows: 25, problemCount: 4 });
    expect(validation.problems.map((p) => p.line)).toEqual([8, 15, 20, 24]);
    const error = badRowsError(PIPE, validation.problems);
    expect(error).toBeInstanceOf(ConfigError);
    for (const line of [8, 15, 20, 24]) expect(error?.message).toContain(`line ${line}:`);
    expect(error?.line).toBe(8);
    expect(badRowsError(PIPE, validation.problems, 'repair')).toBeUndefined();
    expect(badRowsError(PIPE, validation.problems, 'skip')).toBeUndefined();
  });

  it('repair merges the proposed cells and keeps every row', async () => {
    const records = await collect((await openInput({ file: PIPE, onBadRow: 'repair' })).records());
    expect(records).toHaveLength(25);
    expect(records.find((r) => r.line === 8)?.values).toEqual({
      title: 'PostgreSQL vs MySQL vs SQLite | Which Database Should You Choose?',
      slug: 'database-comparison',
      meta_description:
        'A complete comparison of PostgreSQL, MySQL and SQLite: concurrency, features, operations and licensing, so you can pick the right one.',
    });
  });

  it('skip drops the bad rows and keeps the others with their lines', async () => {
    const records = await collect((await openInput({ file: PIPE, onBadRow: 'skip' })).records());
    expect(records).toHaveLength(21);
    expect(records.map((r) => r.line)).not.toContain(8);
    expect(records.map((r) => r.line)).toContain(9);
  });

  it('repair refuses a row it cannot repair, naming its line', async () => {
    const error = await collect((await openInput({ file: MIXED, onBadRow: 'repair' })).records()).catch((e: unknown) => e);
    expect(error).toMatchObject({ line: 4, code: 'INPUT_BAD_ROW' });
    const validation = await validateInput({ file: MIXED });
    expect(unhandledProblems(validation.problems, 'repair').map((p) => p.line)).toEqual([4, 8, 10]);
  });

  it('no policy skips past an unclosed quote: that would silently drop the rest of the file', async () => {
    const lines: number[] = [];
    const error = await (async () => {
      for await (const record of (await openInput({ file: MIXED, onBadRow: 'skip' })).records()) lines.push(record.line);
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ line: 10, code: 'INPUT_BAD_ROW' });
    expect(lines).toEqual([2, 3, 6, 9]);
    const validation = await validateInput({ file: MIXED });
    expect(badRowsError(MIXED, validation.problems, 'skip')?.message).toContain('line 10:');
  });
});
