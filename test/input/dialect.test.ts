import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectInput, openInput } from '../../src/input/index.js';
import { collect, fixture, tempDir } from './helpers.js';

describe('dialect detection', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('reads the demo file: comma, RFC 4180 quoting, 289 posts, quotes and pipes inside titles kept whole', async () => {
    const file = fixture('blog-posts.csv');
    expect(await inspectInput(file)).toEqual({
      format: 'csv',
      encoding: 'utf-8',
      bom: false,
      delimiter: ',',
      quote: '"',
      header: ['title', 'slug', 'meta_description'],
      columns: 3,
      rows: 289,
      problems: [],
      problem_count: 0,
      blank_lines: 0,
    });
    const records = await collect((await openInput({ file })).records());
    expect(records).toHaveLength(289);
    const titles = records.map((r) => r.values['title']);
    expect(titles).toContain('Why "It Works on My Machine" Is Not a Deployment Strategy');
    expect(records.find((r) => r.values['title'] === 'PostgreSQL vs MySQL vs SQLite | Which Database Should You Choose?')?.line).toBe(88);
    expect(new Set(records.map((r) => r.values['slug'])).size).toBe(289);
  });

  it('picks the pipe for the source’s broken export even though some titles contain it', async () => {
    const report = await inspectInput(fixture('input/pipe-export-broken.csv'));
    expect(report).toMatchObject({ delimiter: '|', quote: '"', header: ['title', 'slug', 'meta_description'], rows: 25 });
  });

  it('reads an Excel semicolon export: BOM, CRLF, decimal commas, a quoted ; and a multi-line cell with CRLF inside', async () => {
    const file = fixture('input/excel-semicolon-bom-crlf.csv');
    const records = await collect((await openInput({ file })).records());
    expect(records.map((r) => r.line)).toEqual([2, 3, 4, 7, 8, 9]);
    expect(records[0]?.values['reading_time_min']).toBe('9,5');
    expect(records[1]?.values).toMatchObject({ title: 'Retries; Backoff and Jitter', summary: 'Why "naive" retries turn small outages into large ones.' });
    expect(records[2]?.values['summary']).toBe('Three patterns.\r\nEach trades freshness for speed.\r\nPick per workload.');
    expect(records[4]?.values['title']).toBe('Café Culture for Remote Teams — Rituals That Work');
  });

  it("detects ' as the quote when it encloses cells, with doubled-quote escapes", async () => {
    const file = fixture('input/single-quote.csv');
    expect(await inspectInput(file)).toMatchObject({ delimiter: ',', quote: "'", rows: 4, problems: [] });
    const titles = (await collect((await openInput({ file })).records())).map((r) => r.values['title']);
    expect(titles).toEqual(['Redis, Memcached or Both?', "It's Always DNS: Debugging Resolution", 'SSH Tips That Save Time', 'OOM Killer, Explained']);
  });

  it('reads CR-only line endings, counting a CR inside a quoted cell as a line', async () => {
    const file = fixture('input/cr-only.csv');
    const records = await collect((await openInput({ file })).records());
    expect(records.map((r) => [r.line, r.values['title']])).toEqual([
      [2, 'Understanding Load Average'],
      [3, 'Two\rLines'],
      [5, 'Disk Full at 2 AM'],
    ]);
  });

  it('finds a delimiter outside the usual five when the data shows one', async () => {
    expect(await inspectInput(fixture('input/tilde-delimited.txt'))).toMatchObject({
      delimiter: '~',
      header: ['title', 'slug', 'words'],
      rows: 4,
      problems: [],
    });
  });

  it('chooses by row consistency, not by counting characters in the header line', async () => {
    // The header has two colons and no comma; every row agrees only when split on commas.
    const file = join(dir, 'times.csv');
    await writeFile(file, 'start:end,title\n09:30,Standup\n10:00,Design review: caching\n13:15,Pairing: retries\n15:45,Demo\n');
    expect(await inspectInput(file)).toMatchObject({ delimiter: ',', header: ['start:end', 'title'], problems: [] });
  });

  it('lets an explicit delimiter win over detection', async () => {
    const file = fixture('input/excel-semicolon-bom-crlf.csv');
    const report = await inspectInput(file, { delimiter: ',' });
    expect(report.delimiter).toBe(',');
    expect(report.header).toEqual(['title;slug;word_count;reading_time_min;summary']);
    expect((await inspectInput(fixture('input/utf16le-bom.tsv'), { delimiter: 'tab' })).delimiter).toBe('\t');
    expect((await inspectInput(fixture('input/pipe-export-broken.csv'), { delimiter: 'auto' })).delimiter).toBe('|');
    await expect(inspectInput(file, { delimiter: ';;' })).rejects.toMatchObject({ code: 'INPUT_DELIMITER_INVALID', exitCode: 2 });
  });

  it('tells a header row from a data row, and names columns when there is none', async () => {
    const file = join(dir, 'numbers.csv');
    await writeFile(file, '1,2.5,2024-01-01\n2,3.5,2024-01-02\n3,4.25,2024-01-03\n');
    expect(await inspectInput(file)).toMatchObject({ header: null, columns: 3, rows: 3 });
    const opened = await openInput({ file });
    expect(opened.columns).toEqual(['column_1', 'column_2', 'column_3']);
    expect((await collect(opened.records()))[0]).toEqual({ line: 1, values: { column_1: '1', column_2: '2.5', column_3: '2024-01-01' } });
    expect(await inspectInput(file, { header: true })).toMatchObject({ header: ['1', '2.5', '2024-01-01'], rows: 2 });

    const named = join(dir, 'named.csv');
    await writeFile(named, 'id,price,published\n1,2.5,2024-01-01\n2,3.5,2024-01-02\n');
    expect(await inspectInput(named)).toMatchObject({ header: ['id', 'price', 'published'], rows: 2 });
  });

  it('refuses a header that names two columns alike', async () => {
    const file = join(dir, 'dup.csv');
    await writeFile(file, 'title,slug,title\na,b,c\nd,e,f\n');
    await expect(inspectInput(file)).rejects.toMatchObject({ code: 'INPUT_HEADER_INVALID', line: 1 });
  });

  it('reads a one-column file', async () => {
    const file = join(dir, 'prompts.txt');
    await writeFile(file, 'prompt\nA lighthouse at dawn, watercolour\nA server room, isometric\n');
    // Read with a delimiter the file does not contain (tab, the first unused one), so commas stay in their cell.
    expect(await inspectInput(file)).toMatchObject({ delimiter: '\t', columns: 1, rows: 2, problems: [] });
    expect((await collect((await openInput({ file })).records()))[0]?.values).toEqual({ prompt: 'A lighthouse at dawn, watercolour' });
  });
});

describe('dialect details', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('skips Excel’s sep= line, takes its delimiter, and keeps line numbers as an editor shows them', async () => {
    const file = fixture('dialects/excel-sep-line.csv');
    const records = await collect((await openInput({ file })).records());
    expect(records.map((r) => [r.line, r.values['Name'], r.values['Preis']])).toEqual([
      [3, 'Äpfel', '2,49'],
      [4, 'Birnen', '3,10'],
      [5, 'Kirschen', '6,90'],
    ]);
  });

  it('reads backslash-escaped quotes (MySQL exports) and says so', async () => {
    const file = fixture('dialects/comma-backslash-escapes.csv');
    expect(await inspectInput(file)).toMatchObject({ delimiter: ',', quote: '"', escape: '\\', problems: [] });
    const records = await collect((await openInput({ file })).records());
    expect(records[2]?.values['quote']).toBe('A "quoted" word, then more.');
    // A doubled-quote file never reports an escape key.
    expect(await inspectInput(fixture('dialects/comma-rfc4180-quoted.csv'))).not.toHaveProperty('escape');
  });

  it('stops at a quote left open on its line and closed by a later cell’s quote, under every policy', async () => {
    const file = fixture('dialects/comma-unclosed-quote.csv');
    const report = await inspectInput(file);
    expect(report.problems.map((p) => [p.line, p.kind, p.cells])).toEqual([[3, 'unterminated_quote', 3]]);
    for (const onBadRow of ['fail', 'repair', 'skip'] as const) {
      await expect(collect((await openInput({ file, onBadRow })).records())).rejects.toMatchObject({ code: 'INPUT_BAD_ROW', line: 3 });
    }
    // A doubled quote at the start of a multi-line cell is text, not a stray quote.
    const fine = join(dir, 'fine.csv');
    await writeFile(fine, 'id,note\n1,"""Hi"", she said.\nThen left."\n2,ok\n');
    expect(await inspectInput(fine)).toMatchObject({ rows: 2, problems: [] });
  });

  it('reads JSON Lines saved as .txt, and a compact JSON array whose first object is larger than the sample', async () => {
    expect(await inspectInput(fixture('dialects/jsonl-as-txt.txt'))).toMatchObject({ format: 'jsonl', rows: 5 });
    const file = join(dir, 'vectors.json');
    const rows = [
      { id: 'a', vector: Array.from({ length: 12_000 }, (_, i) => i / 3) },
      { id: 'b', vector: [1, 2] },
    ];
    await writeFile(file, JSON.stringify(rows));
    expect(await inspectInput(file)).toMatchObject({ format: 'json', header: ['id', 'vector'], rows: 2, problems: [] });
  });

  it('tells one column of prompts without a header from a comma table', async () => {
    const file = fixture('dialects/prompts-no-header.txt');
    expect(await inspectInput(file)).toMatchObject({ header: null, columns: 1, rows: 6, problems: [] });
    const first = (await collect((await openInput({ file })).records()))[0];
    expect(first).toEqual({ line: 1, values: { column_1: 'A lighthouse at dawn, watercolour, soft light' } });
  });
});
