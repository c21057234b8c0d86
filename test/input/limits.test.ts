import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/config-error.js';
import { badRowsError, inspectInput, openInput, validateInput } from '../../src/input/index.js';
import { buildProfiles } from '../../src/input/column-profile.js';
import { MAX_COLUMNS } from '../../src/input/input-layout.js';
import { proposeMerge } from '../../src/input/propose-repair.js';
import { collect, tempDir } from './helpers.js';

/** The error an input pass throws, for assertions on its fields. */
async function refusal(pass: Promise<unknown>): Promise<ConfigError> {
  const error = await pass.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

function wideCsv(columns: number, rows: number, extraInRow?: number): string {
  const names = Array.from({ length: columns }, (_, i) => (i === 0 ? 'slug' : `c${i}`));
  const lines = [names.join(',')];
  for (let r = 0; r < rows; r++) {
    const cells = names.map((_, i) => (i === 0 ? `slug-${r}` : `v${i}`));
    if (r === extraInRow) cells.splice(1, 0, 'stray');
    lines.push(cells.join(','));
  }
  return `${lines.join('\n')}\n`;
}

describe('input limits: wide rows, long rows, files that are not text', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it(`reads a file of ${MAX_COLUMNS.toLocaleString('en')} columns, and refuses one more, naming the count and the limit`, async () => {
    const ok = join(dir, 'at-limit.csv');
    await writeFile(ok, wideCsv(MAX_COLUMNS, 3));
    expect(await inspectInput(ok)).toMatchObject({ columns: MAX_COLUMNS, rows: 3, problem_count: 0 });
    const wide = join(dir, 'posts.csv');
    await writeFile(wide, wideCsv(MAX_COLUMNS + 1, 3));
    const error = await refusal(inspectInput(wide));
    expect(error).toMatchObject({ code: 'INPUT_TOO_WIDE', line: 1, exitCode: 2 });
    expect(error.message).toBe(`${wide}:1: 10,001 columns in the first row; genbatch reads at most 10,000 columns.`);
    expect(error.hint).toMatch(/columns the job uses/);
  });

  it('refuses 100,000 columns in seconds (the header alone used to hang detection)', async () => {
    const file = join(dir, 'posts.csv');
    await writeFile(file, wideCsv(100_000, 2));
    // Quadratic detection took minutes on this file (past the test's timeout); `npm run bench input-limits` times it.
    const error = await refusal(openInput({ file }));
    expect(error.message).toContain('100,000 columns');
  });

  it('scores the merges of a wide row in linear time: a 10,000-cell row with one stray cell is repaired at once', () => {
    const cell = (r: number, i: number): string => (i === 0 ? `slug-${r}` : i === 1 ? `A title for post ${r}` : i % 2 ? `${i * 7}` : `w${i}`);
    const rows = Array.from({ length: 5 }, (_, r) => Array.from({ length: MAX_COLUMNS }, (_, i) => cell(r, i)));
    const profiles = buildProfiles(rows, MAX_COLUMNS);
    // "A title, cut at its comma" split in two.
    const bad = [rows[0]![0]!, 'A title', ' cut at its comma', ...rows[0]!.slice(2)];
    // Scoring each merge position over the whole row was 10,000 × 10,000 cell fits (minutes, past the test's
    // timeout); `npm run bench input-limits` times it.
    const merge = proposeMerge(bad, profiles, ',');
    expect(merge).toMatchObject({ index: 1, value: 'A title, cut at its comma' });
    expect(merge?.cells).toHaveLength(MAX_COLUMNS);
    // Many stray cells are no single field with a stray delimiter: no merge is tried.
    expect(proposeMerge([...rows[0]!, ...rows[1]!], profiles, ',')).toBeUndefined();
  });

  it('refuses JSON objects with more keys than the column limit, naming the line', async () => {
    const file = join(dir, 'posts.jsonl');
    const object = Object.fromEntries(Array.from({ length: MAX_COLUMNS + 5 }, (_, i) => [`k${i}`, i]));
    await writeFile(file, `${JSON.stringify(object)}\n{"k0": 1}\n`);
    const error = await refusal(inspectInput(file));
    expect(error).toMatchObject({ code: 'INPUT_TOO_WIDE', line: 1 });
    expect(error.message).toContain('10,005 keys in the objects up to this one');
  });

  it('blames a too-long row on its length when no quote is open, and on the quote when one is', async () => {
    const long = 'x'.repeat(1_100_000);
    const unquoted = join(dir, 'unquoted.csv');
    await writeFile(unquoted, `title,slug\na,1\nb,2\n${long},3\nd,4\n`);
    const report = await inspectInput(unquoted);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({ line: 4, kind: 'record_too_large' });
    expect(report.problems[0]!.message).toContain('no quote is left open');
    expect(report.problems[0]!.message).not.toMatch(/opened and never closed|opens a/);
    const error = badRowsError(unquoted, report.problems)!;
    expect(error.hint).toMatch(/Shorten that row/);
    expect(error.hint).not.toMatch(/quote/);

    const quoted = join(dir, 'quoted.csv');
    await writeFile(quoted, `title,slug\na,1\n"b ${long},2\nd,4\n`);
    const quotedReport = await inspectInput(quoted);
    expect(quotedReport.problems.map((p) => [p.line, p.kind])).toEqual([[3, 'unterminated_quote']]);
    expect(quotedReport.problems[0]!.message).toContain('still open 1,000,000 characters later');
    expect(badRowsError(quoted, quotedReport.problems)!.hint).toMatch(/close or double the quote/);
  });

  it('refuses images, archives and databases by name, before any column is read from them', async () => {
    const files: Array<[string, Buffer, RegExp]> = [
      ['hero.csv', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]), /a PNG image/],
      ['photo.csv', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46]), /a JPEG image/],
      ['posts.xlsx', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 6, 0]), /ZIP archive \(an Excel \.xlsx workbook\?\)/],
      ['posts.csv.gz', Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0]), /a gzip archive/],
      ['state.db', Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(84)]), /a SQLite database/],
      ['report.csv', Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1'), /a PDF document/],
    ];
    for (const [name, bytes, what] of files) {
      const file = join(dir, name);
      await writeFile(file, bytes);
      const error = await refusal(openInput({ file }));
      expect(error).toMatchObject({ code: 'INPUT_NOT_TEXT', line: 1, file });
      expect(error.message).toMatch(what);
      expect(error.message).toContain(`${file}:1: `);
      expect(error.message).toContain('not a text file');
    }
  });

  it('refuses a file with a NUL byte or many control characters, naming the line; UTF-16 and Latin-1 text pass', async () => {
    const nul = join(dir, 'posts.csv');
    await writeFile(nul, Buffer.from('title,slug\nA,a\nB\0\0,b\n'));
    const error = await refusal(inspectInput(nul));
    expect(error).toMatchObject({ code: 'INPUT_NOT_TEXT', line: 3 });
    expect(error.message).toContain('a NUL byte (0x00) at byte offset 16');
    expect(error.hint).toMatch(/utf-16le/);

    const noise = join(dir, 'noise.csv');
    await writeFile(noise, Buffer.from(Array.from({ length: 2000 }, (_, i) => ((i * 37 + 11) % 255) + 1)));
    expect((await refusal(inspectInput(noise))).message).toMatch(/control characters in its first 2,000 bytes/);

    const utf16 = join(dir, 'utf16.csv');
    await writeFile(utf16, Buffer.from('title,slug\nÉté,ete\n', 'utf16le'));
    expect(await inspectInput(utf16)).toMatchObject({ encoding: 'utf-16le', rows: 1 });
    const latin1 = join(dir, 'latin1.csv');
    await writeFile(latin1, Buffer.from('title,slug\nCafé,cafe\nÉté,ete\n', 'latin1'));
    expect(await inspectInput(latin1, { encoding: 'latin1' })).toMatchObject({ rows: 2, problem_count: 0 });
    // A form feed or an escape in a cell is rare but text: a few control characters do not refuse a file.
    const formFeed = join(dir, 'form-feed.csv');
    await writeFile(formFeed, 'title,slug\nPage\fbreak,a\nBell\u0007,b\n');
    expect(await inspectInput(formFeed)).toMatchObject({ rows: 2 });
  });

  it('reports a bad byte in the head before detection, so a Latin-1 header is not read as a garbled column name', async () => {
    const file = join(dir, 'posts.csv');
    await writeFile(file, Buffer.from('title,slug,catégorie\nA,a,x\n', 'latin1'));
    const error = await refusal(openInput({ file }));
    expect(error).toMatchObject({ code: 'INPUT_NOT_UTF8', line: 1 });
    expect(error.message).toContain('byte 0xE9 at byte offset 14 (line 1)');
  });

  it('refuses an empty JSON array and a file whose rows are not objects, instead of reading no columns', async () => {
    const empty = join(dir, 'empty.json');
    await writeFile(empty, '[\n]\n');
    expect(await refusal(validateInput({ file: empty }))).toMatchObject({ code: 'INPUT_EMPTY', line: 1 });
    const arrays = join(dir, 'arrays.jsonl');
    await writeFile(arrays, '\n["a", 1]\n["b", 2]\n');
    const error = await refusal(validateInput({ file: arrays }));
    expect(error).toMatchObject({ code: 'INPUT_NOT_OBJECTS', line: 2 });
    expect(error.message).toContain('none of the first 2 rows is a JSON object');
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '[,]\n');
    expect((await refusal(validateInput({ file: broken }))).message).toContain('the JSON array is broken there, expected an element');
    // One object among them is enough: the others are bad rows, listed as usual.
    await writeFile(arrays, '["a", 1]\n{"slug": "b"}\n');
    expect((await validateInput({ file: arrays })).problems.map((p) => [p.line, p.kind])).toEqual([[1, 'not_an_object']]);
  });

  it('names the job key of a delimiter, quote or encoding it cannot use', async () => {
    const file = join(dir, 'posts.csv');
    await writeFile(file, 'title,slug\nA,a\n');
    expect((await refusal(openInput({ file, delimiter: ';;' }))).message).toBe(`input.delimiter ";;", set for ${file}, must be one character.`);
    expect((await refusal(openInput({ file, delimiter: "'", quote: "'" }))).message).toContain('input.delimiter and input.quote');
    expect((await refusal(openInput({ file, encoding: 'klingon' }))).message).toBe(
      `input.encoding "klingon", set for ${file}, is not an encoding this Node.js can decode.`,
    );
    expect(await collect((await openInput({ file, delimiter: 'comma' })).records())).toEqual([{ line: 2, values: { title: 'A', slug: 'a' } }]);
  });
});
