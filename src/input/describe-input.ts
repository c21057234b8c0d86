import { extname } from 'node:path';
import { ConfigError } from '../errors/config-error.js';
import { refuseBinary } from './binary-file.js';
import { MAX_RECORD_CHARS } from './csv-dialect.js';
import { buildProfiles } from './column-profile.js';
import { detectDialect } from './detect-dialect.js';
import { detectHeader } from './detect-header.js';
import { explicitDialect } from './dialect-options.js';
import { invalidUtf8 } from './decode.js';
import { detectEncoding, type DetectedEncoding } from './encoding.js';
import { MAX_COLUMNS, type InputLayout } from './input-layout.js';
import type { InputFormat, InputOptions } from './input-source.js';
import { jsonArrayElements } from './json-array-elements.js';
import { parseObject } from './json-rows.js';
import { readHead, SAMPLE_BYTES } from './read-head.js';
import { SAMPLE_ROWS } from './sample-rows.js';
import { splitLines } from './split-lines.js';
import { decodeBytes } from './text-decoder.js';
import { Utf8Validator } from './utf8-validator.js';

/** Largest head read to find the first whole row; a row longer than MAX_RECORD_CHARS is refused anyway. */
const MAX_HEAD_BYTES = 4 * 1024 * 1024;

/**
 * The first step of every pass: reads the head of the file (SAMPLE_BYTES) and works out encoding,
 * format, dialect, header and column profiles from it. Nothing past the head is read here. When the
 * head holds no whole row (a 100 KB first line of JSON Lines, a compact JSON array whose first object
 * is large), it reads a larger head, up to MAX_HEAD_BYTES.
 */
export async function describeInput(opts: InputOptions): Promise<InputLayout> {
  const { file } = opts;
  for (let size = SAMPLE_BYTES; ; size *= 4) {
    const head = await readHead(file, size);
    const encoding = detectEncoding(head.bytes, file, opts.encoding);
    refuseBinary(head.bytes, file, encoding);
    // A bad byte in the head would otherwise become part of a column name and be reported as a
    // missing column: say what it is before anything is detected from the head.
    checkUtf8(head.bytes, head.truncated, file, encoding);
    const text = decodeBytes(head.bytes.subarray(encoding.bomBytes), encoding.name);
    if (!head.truncated && text.trim() === '') {
      throw new ConfigError(`The input file ${file} is empty.`, {
        code: 'INPUT_EMPTY',
        file,
        hint: 'Point input.file at a file with a header row and at least one row.',
      });
    }
    const format = opts.format ?? detectFormat(file, text);
    // The head of a longer file ends mid-row (maybe mid-character): delimited text and JSON Lines
    // keep whole lines only; the array scanner stops by itself before a cut element.
    const sample = head.truncated && format !== 'json' ? text.slice(0, Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r')) + 1) : text;
    if (head.truncated && !(await holdsWholeRow(format, sample))) {
      if (size < MAX_HEAD_BYTES) continue;
      throw new ConfigError(
        `${file}:1: the first row is longer than ${MAX_HEAD_BYTES / (1024 * 1024)} MB, so its layout cannot be detected (genbatch reads rows of at most ${MAX_RECORD_CHARS.toLocaleString('en')} characters).`,
        {
          code: 'INPUT_UNREADABLE',
          file,
          line: 1,
          hint: 'Check that the file is text with one row per line (and a header row), not a single long line.',
        },
      );
    }
    const base = { file, format, encoding, crlf: /\r\n|\n|\r/.exec(sample)?.[0] === '\r\n' };
    if (format === 'csv') return { ...base, ...csvLayout(sample, head.truncated, opts) };
    const keys = await sampleKeys(file, format, sample);
    return { ...base, dialect: undefined, skipLines: 0, header: keys.columns, columns: keys.columns, profiles: [], requiredKeys: keys.required };
  }
}

function checkUtf8(bytes: Uint8Array, truncated: boolean, file: string, encoding: DetectedEncoding): void {
  if (!encoding.validate) return;
  const validator = new Utf8Validator();
  // A truncated head may end inside a character: only the end of the file ends the last one.
  const bad = validator.push(bytes) ?? (truncated ? undefined : validator.end());
  if (bad !== undefined) throw invalidUtf8(file, bad);
}

/** The refusal of a file wider than MAX_COLUMNS, before its rows are split. */
function tooWide(file: string, line: number, columns: number, what: string): ConfigError {
  return new ConfigError(`${file}:${line}: ${columns.toLocaleString('en')} ${what}; genbatch reads at most ${MAX_COLUMNS.toLocaleString('en')} columns.`, {
    code: 'INPUT_TOO_WIDE',
    file,
    line,
    hint: 'Keep only the columns the job uses (a spreadsheet, `cut -d, -f1-20` or `csvcut` can drop the others), or check that the file is a table with one row per line.',
  });
}

/** Whether a truncated head holds the first row whole: a line (with something on it), or an array element. */
async function holdsWholeRow(format: InputFormat, sample: string): Promise<boolean> {
  if (format !== 'json') return sample.trim() !== '';
  for await (const item of jsonArrayElements(once(sample))) return 'text' in item || item.cut !== true;
  return true;
}

async function* once(text: string): AsyncGenerator<string> {
  yield text;
}

/**
 * The extension decides when it is specific (`.jsonl`, `.csv`...); `.json` is an array when it starts
 * with `[`, JSON Lines otherwise. Generic names (`.txt`, `.dat`, none) go by the content: `[` opens
 * an array, a first line that is a JSON object starts JSON Lines, anything else is delimited text.
 */
export function detectFormat(file: string, sample: string): InputFormat {
  const ext = extname(file).toLowerCase();
  const first = sample.trimStart()[0];
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.json') return first === '[' ? 'json' : 'jsonl';
  if (['.csv', '.tsv', '.tab', '.psv'].includes(ext)) return 'csv';
  if (['.txt', '.dat'].includes(ext)) return first === '{' && startsWithJsonObject(sample) ? 'jsonl' : 'csv';
  if (first === '[') return 'json';
  if (first === '{') return 'jsonl';
  return 'csv';
}

/** Whether the first non-blank line of the sample is a whole JSON object, as in JSON Lines. */
function startsWithJsonObject(sample: string): boolean {
  const line = sample.trimStart().split(/\r\n|\n|\r/, 1)[0]!;
  return 'object' in parseObject(line);
}

/** Excel's first line `sep=;`: it names the delimiter and is neither the header nor a row. */
const SEP_HINT = /^sep=([^\r\n"'])(\r\n|\n|\r)/;

function csvLayout(text: string, truncated: boolean, opts: InputOptions): Omit<InputLayout, 'file' | 'format' | 'encoding' | 'crlf'> {
  const explicit = explicitDialect(opts);
  const hint = SEP_HINT.exec(text);
  const sample = hint === null ? text : text.slice(hint[0].length);
  if (hint !== null) explicit.delimiter ??= hint[1]!;
  const detected = detectDialect(sample, truncated, explicit);
  const rows = detected.sample.rows;
  const first = rows[0];
  const line = detected.sample.firstLine + (hint === null ? 0 : 1);
  const width = Math.max(first?.length ?? 0, detected.width);
  if (width > MAX_COLUMNS) throw tooWide(opts.file, line, width, first !== undefined && first.length === width ? 'columns in the first row' : 'columns');
  const hasHeader = first !== undefined && (opts.header ?? detectHeader(rows, detected.width));
  let header: string[] | null = null;
  let columns: string[];
  if (hasHeader) {
    header = first.map((name, i) => name.trim() || `column_${i + 1}`);
    const seen = new Map<string, number>();
    header.forEach((name, i) => {
      const earlier = seen.get(name);
      if (earlier !== undefined) {
        throw new ConfigError(
          `${opts.file}:${line}: the header names two columns "${name}" (columns ${earlier + 1} and ${i + 1}), so rows cannot be keyed by name.`,
          {
            code: 'INPUT_HEADER_INVALID',
            file: opts.file,
            line,
            hint: 'Rename one of the columns in the header row.',
          },
        );
      }
      seen.set(name, i);
    });
    columns = header;
  } else {
    columns = Array.from({ length: detected.width }, (_, i) => `column_${i + 1}`);
  }
  const profiles = buildProfiles(hasHeader ? rows.slice(1) : rows, columns.length);
  return { dialect: detected.dialect, skipLines: hint === null ? 0 : 1, header, columns, profiles, requiredKeys: [] };
}

/** Share of sampled JSON objects that must have a key for it to be required of every row. */
const REQUIRED_SHARE = 0.9;

/** Columns of a JSON file: the keys of the sampled objects, in the order they first appear. */
async function sampleKeys(file: string, format: 'jsonl' | 'json', sample: string): Promise<{ columns: string[]; required: string[] }> {
  const objects: Record<string, unknown>[] = [];
  const columns: string[] = [];
  const seen = new Set<string>();
  const add = (object: Record<string, unknown>, line: number): void => {
    objects.push(object);
    for (const key of Object.keys(object)) {
      if (seen.has(key)) continue;
      seen.add(key);
      columns.push(key);
    }
    if (columns.length > MAX_COLUMNS) throw tooWide(file, line, columns.length, 'keys in the objects up to this one');
  };
  // The first row that is not an object, for the message when no row of the sample is one.
  let notObject: { line: number; why: string } | undefined;
  let rows = 0;
  const take = (text: string, line: number): void => {
    rows++;
    const parsed = parseObject(text);
    if ('object' in parsed) add(parsed.object, line);
    else notObject ??= { line, why: parsed.error === 'invalid_json' ? `it is not valid JSON (${parsed.detail})` : `it is ${parsed.detail}` };
  };
  const chunks = once(sample);
  if (format === 'jsonl') {
    for await (const item of splitLines(chunks)) {
      if (!('text' in item) || objects.length >= SAMPLE_ROWS) break;
      if (item.text.trim() !== '') take(item.text, item.line);
    }
  } else {
    for await (const item of jsonArrayElements(chunks)) {
      if (!('text' in item)) {
        // Broken before its first element (`[,`): that is what to report, not an empty array.
        if (rows === 0 && item.cut !== true) notObject = { line: item.line, why: `the JSON array is broken there, ${item.failure.replace(/\.$/, '')}` };
        break;
      }
      if (objects.length >= SAMPLE_ROWS) break;
      take(item.text, item.line);
    }
  }
  // Without one object there are no column names, and every later message would be about a
  // missing column: say what the file holds instead.
  if (objects.length === 0 && rows === 0 && notObject === undefined && format === 'json') {
    throw new ConfigError(`${file}:1: the JSON array is empty: it holds no rows.`, {
      code: 'INPUT_EMPTY',
      file,
      line: 1,
      hint: 'Point input.file at a file with at least one row (a JSON object per row).',
    });
  }
  if (objects.length === 0 && notObject !== undefined) {
    throw new ConfigError(
      `${file}:${notObject.line}: ${rows <= 1 ? 'the first row is not' : `none of the first ${rows.toLocaleString('en')} rows is`} a JSON object, so the file has no column names; line ${notObject.line}: ${notObject.why}.`,
      {
        code: 'INPUT_NOT_OBJECTS',
        file,
        line: notObject.line,
        hint: `genbatch reads ${format === 'json' ? 'a JSON array of objects' : 'JSON Lines: one object per line'}, like {"id": "a", "title": "..."}.`,
      },
    );
  }
  // A key nearly every object has is one the rows are meant to have; a row without it is reported
  // rather than read as empty. Keys fewer objects have are optional.
  const required = columns.filter((key) => objects.filter((o) => Object.hasOwn(o, key)).length >= objects.length * REQUIRED_SHARE);
  return { columns, required };
}
