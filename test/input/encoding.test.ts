import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/config-error.js';
import { inspectInput, openInput } from '../../src/input/index.js';
import { createTextDecoder, decodeBytes } from '../../src/input/text-decoder.js';
import { Utf8Validator } from '../../src/input/utf8-validator.js';
import { collect, fixture, tempDir } from './helpers.js';

describe('encodings', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('reads a UTF-8 file with BOM (Excel semicolon export) without the BOM in the first column name', async () => {
    const report = await inspectInput(fixture('input/excel-semicolon-bom-crlf.csv'));
    expect(report).toMatchObject({ encoding: 'utf-8', bom: true, delimiter: ';', header: ['title', 'slug', 'word_count', 'reading_time_min', 'summary'] });
  });

  it('reads UTF-16LE with BOM (Excel "Unicode text"), tabs and CRLF, keeping non-ASCII text intact', async () => {
    const file = fixture('input/utf16le-bom.tsv');
    expect(await inspectInput(file)).toMatchObject({ format: 'csv', encoding: 'utf-16le', bom: true, delimiter: '\t', columns: 3, rows: 4, problems: [] });
    const records = await collect((await openInput({ file })).records());
    expect(records.map((r) => r.values['title'])).toEqual([
      'Déploiements sans interruption',
      'Kubernetes の基本',
      'Ünit-Tests mit Vitest 🚀',
      'Structured Logging, Explained',
    ]);
    expect(records.map((r) => r.line)).toEqual([2, 3, 4, 5]);
  });

  it('reads UTF-16BE with BOM and UTF-16LE without BOM', async () => {
    const text = 'title,slug\r\nÉté,ete\r\nHiver,hiver\r\n';
    const le = Buffer.from(text, 'utf16le');
    const be = Buffer.from(le);
    be.swap16();
    await writeFile(join(dir, 'be.csv'), Buffer.concat([Buffer.from([0xfe, 0xff]), be]));
    await writeFile(join(dir, 'le-nobom.csv'), le);
    for (const [name, encoding, bom] of [
      ['be.csv', 'utf-16be', true],
      ['le-nobom.csv', 'utf-16le', false],
    ] as const) {
      const file = join(dir, name);
      expect(await inspectInput(file)).toMatchObject({ encoding, bom, rows: 2, problems: [] });
      const records = await collect((await openInput({ file })).records());
      expect(records[0]?.values).toEqual({ title: 'Été', slug: 'ete' });
    }
  });

  it('rejects a file that is not UTF-8, naming the line and byte offset of the first bad byte', async () => {
    const file = fixture('input/invalid-utf8.csv');
    const offset = (await readFile(file)).indexOf(0xe9);
    const error = await inspectInput(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.line).toBe(4);
    expect(configError.exitCode).toBe(2);
    expect(configError.message).toContain(`${file}:4:`);
    expect(configError.message).toContain(`byte offset ${offset}`);
    expect(configError.message).toContain('0xE9');
    expect(configError.hint).toMatch(/encoding/);
    // Opening it fails the same way, before a garbled row (or column name) is handed on.
    await expect(openInput({ file }).then(async (opened) => collect(opened.records()))).rejects.toMatchObject({ line: 4, code: 'INPUT_NOT_UTF8' });
  });

  it('reads the same file when the options set its encoding', async () => {
    const file = fixture('input/invalid-utf8.csv');
    const report = await inspectInput(file, { encoding: 'latin1' });
    expect(report).toMatchObject({ encoding: 'windows-1252', rows: 4, problems: [] });
    const records = await collect((await openInput({ file, encoding: 'latin1' })).records());
    expect(records[2]).toEqual({ line: 4, values: { title: 'Café Culture for Remote Teams', slug: 'cafe-culture' } });
  });

  it('decodes a windows-1252 header (€, œ, ’, –) exactly as its rows, for latin1 and cp1252 too (issue 27.4)', async () => {
    // Bytes as Excel writes them on Windows: € 0x80, ’ 0x92, – 0x96, œ 0x9c, Œ 0x8c, é 0xe9.
    const line = (...parts: (string | number)[]): number[] => parts.flatMap((p) => (typeof p === 'number' ? [p] : [...Buffer.from(p, 'ascii')]));
    const header = line('Code;Prix (', 0x80, ');C', 0x9c, 'ur;L', 0x92, 'avis ', 0x96, ' court\r\n');
    const row = line('P1;3,50;', 0x8c, 'uvre;d', 0xe9, 'j', 0xe0, ' ', 0x96, ' l', 0x92, 'an ', 0x80, '\r\n');
    const file = join(dir, 'cp1252.csv');
    await writeFile(file, Buffer.from([...header, ...row]));
    for (const encoding of ['windows-1252', 'cp1252', 'latin1']) {
      const report = await inspectInput(file, { encoding });
      expect(report.header).toEqual(['Code', 'Prix (€)', 'Cœur', 'L’avis – court']);
      const opened = await openInput({ file, encoding });
      expect(opened.columns).toEqual(report.header);
      expect(await collect(opened.records())).toEqual([
        { line: 2, values: { Code: 'P1', 'Prix (€)': '3,50', Cœur: 'Œuvre', 'L’avis – court': 'déjà – l’an €' } },
      ]);
    }
  });

  it('has one windows-1252 table for whole buffers and streamed chunks, equal to the WHATWG one for all 256 bytes', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const whatwg = new TextDecoder('windows-1252');
    // Streaming is what Node decodes with the standard's table (its one-shot path is the Latin-1 shortcut).
    const expected = whatwg.decode(all, { stream: true }) + whatwg.decode();
    expect(decodeBytes(all, 'windows-1252')).toBe(expected);
    const streamed = createTextDecoder('windows-1252');
    expect(streamed.decode(all.subarray(0, 130), { stream: true }) + streamed.decode(all.subarray(130), { stream: true })).toBe(expected);
    expect(expected.slice(0x80, 0x83)).toBe('€\u0081‚');
  });

  it('explains an unknown encoding label and a workbook given as input', async () => {
    await expect(inspectInput(fixture('input/posts.jsonl'), { encoding: 'klingon' })).rejects.toMatchObject({ code: 'INPUT_ENCODING_UNKNOWN' });
    const xlsx = join(dir, 'posts.xlsx');
    await writeFile(xlsx, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00]));
    await expect(inspectInput(xlsx)).rejects.toMatchObject({ code: 'INPUT_NOT_TEXT', exitCode: 2 });
    await expect(inspectInput(join(dir, 'missing.csv'))).rejects.toMatchObject({ code: 'INPUT_UNREADABLE' });
    await writeFile(join(dir, 'empty.csv'), '');
    await expect(inspectInput(join(dir, 'empty.csv'))).rejects.toMatchObject({ code: 'INPUT_EMPTY' });
  });
});

describe('Utf8Validator', () => {
  it('accepts multi-byte characters split across chunks and counts CRLF, LF and CR as one line each', () => {
    const bytes = Buffer.from('a\r\nb\nc\rd 😀 é\n', 'utf8');
    const v = new Utf8Validator();
    for (const byte of bytes) expect(v.push(Uint8Array.of(byte))).toBeUndefined();
    expect(v.end()).toBeUndefined();
    // The next bad byte is on line 5: the three breaks above plus the final LF.
    expect(v.push(Uint8Array.of(0xff))).toEqual({ line: 5, offset: bytes.length, byte: 0xff });
  });

  it('rejects overlong forms, surrogates and truncated sequences like TextDecoder does', () => {
    for (const bad of [[0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80]]) {
      const v = new Utf8Validator();
      expect(v.push(Uint8Array.from([0x41, ...bad]))?.offset).toBe(1);
      expect(() => new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bad))).toThrow();
    }
    const cut = new Utf8Validator();
    expect(cut.push(Uint8Array.of(0x41, 0xe2, 0x82))).toBeUndefined();
    expect(cut.end()).toEqual({ line: 1, offset: 1, byte: 0xe2 });
  });
});
