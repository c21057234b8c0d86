import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectInput, openInput } from '../../src/input/index.js';
import { jsonArrayElements } from '../../src/input/json-array-elements.js';
import { collect, fixture, tempDir } from './helpers.js';

async function* chunksOf(text: string, size: number): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

describe('JSON Lines and JSON arrays', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('reads JSON Lines with one record per line, values as text', async () => {
    const file = fixture('input/posts.jsonl');
    expect(await inspectInput(file)).toEqual({
      format: 'jsonl',
      encoding: 'utf-8',
      bom: false,
      delimiter: null,
      quote: null,
      header: ['title', 'slug', 'meta_description', 'priority', 'draft'],
      columns: 5,
      rows: 5,
      problems: [],
      problem_count: 0,
      blank_lines: 0,
    });
    const records = await collect((await openInput({ file })).records());
    expect(records.map((r) => r.line)).toEqual([1, 2, 3, 4, 5]);
    expect(records[3]?.values).toMatchObject({ priority: '4', draft: 'true' });
  });

  it('streams a pretty-printed JSON array, each record at the line its object starts', async () => {
    const file = fixture('input/posts.json');
    expect(await inspectInput(file)).toMatchObject({ format: 'json', columns: 5, rows: 5, problems: [] });
    const records = await collect((await openInput({ file })).records());
    expect(records.map((r) => r.line)).toEqual([2, 9, 16, 23, 30]);
    const jsonl = await collect((await openInput({ file: fixture('input/posts.jsonl') })).records());
    expect(records.map((r) => r.values)).toEqual(jsonl.map((r) => r.values));
  });

  it('reports invalid lines, non-objects and missing keys with their lines, and skips blank lines', async () => {
    const file = fixture('input/problems.jsonl');
    const report = await inspectInput(file);
    expect(report.rows).toBe(13);
    expect(report.problems.map((p) => [p.line, p.kind])).toEqual([
      [4, 'invalid_json'],
      [5, 'not_an_object'],
      [6, 'missing_keys'],
    ]);
    expect(report.problems[2]?.message).toContain('"slug"');
    const records = await collect((await openInput({ file, onBadRow: 'skip' })).records());
    expect(records.map((r) => r.line)).toEqual([1, 3, 7, 8, 9, 10, 11, 12, 13, 14]);
    await expect(collect((await openInput({ file })).records())).rejects.toMatchObject({ line: 4 });
  });

  it('fills optional keys with empty text and turns nested values into JSON', async () => {
    const file = join(dir, 'rows.json');
    await writeFile(file, '[{"id": "a", "tags": ["x", "y"], "note": null}, {"id": "b", "extra": 1.5, "tags": [], "note": "n"}]');
    const records = await collect((await openInput({ file })).records());
    expect(records).toEqual([
      { line: 1, values: { id: 'a', tags: '["x","y"]', note: '', extra: '' } },
      { line: 1, values: { id: 'b', extra: '1.5', tags: '[]', note: 'n' } },
    ]);
  });

  it('stops at a broken array with the line where it breaks', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '[\n  {"id": "a"},\n  {"id": "b"}\n  {"id": "c"}\n]\n');
    const report = await inspectInput(file);
    expect(report.problems).toMatchObject([{ line: 4, kind: 'malformed_row' }]);
    const lines: number[] = [];
    await expect(
      (async () => {
        for await (const r of (await openInput({ file, onBadRow: 'skip' })).records()) lines.push(r.line);
      })(),
    ).rejects.toMatchObject({ line: 4 });
    expect(lines).toEqual([2, 3]);
  });

  it('finds element boundaries whatever the chunking (strings with brackets, escapes, primitives)', async () => {
    const text = '[{"a": "x]}\\"{"}, [1, [2]], "s,]", 42, true, null, {"b": {"c": [3]}}]';
    const expected = ['{"a": "x]}\\"{"}', '[1, [2]]', '"s,]"', '42', 'true', 'null', '{"b": {"c": [3]}}'];
    for (const size of [1, 2, 3, 7, 1000]) {
      const elements = await collect(jsonArrayElements(chunksOf(text, size)));
      expect(elements.map((e) => ('text' in e ? e.text : e.failure))).toEqual(expected);
    }
  });
});
