import { extname } from 'node:path';
import { ConfigError } from '../errors/config-error.js';
import { buildProfiles } from './column-profile.js';
import { detectDialect } from './detect-dialect.js';
import { detectHeader } from './detect-header.js';
import { explicitDialect } from './dialect-options.js';
import { detectEncoding } from './encoding.js';
import type { InputLayout } from './input-layout.js';
import type { InputFormat, InputOptions } from './input-source.js';
import { jsonArrayElements } from './json-array-elements.js';
import { parseObject } from './json-rows.js';
import { readHead, SAMPLE_BYTES } from './read-head.js';
import { SAMPLE_ROWS } from './sample-rows.js';
import { splitLines } from './split-lines.js';

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
    const text = new TextDecoder(encoding.name, { ignoreBOM: true }).decode(head.bytes.subarray(encoding.bomBytes));
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
      throw new ConfigError(`${file}:1: the first row is longer than ${MAX_HEAD_BYTES / (1024 * 1024)} MB, so its layout cannot be detected.`, {
        code: 'INPUT_UNREADABLE',
        file,
        line: 1,
        hint: 'Check that the file is text with one row per line (and a header row), not a single long line.',
      });
    }
    const base = { file, format, encoding };
    if (format === 'csv') return { ...base, ...csvLayout(sample, head.truncated, opts) };
    const keys = await sampleKeys(format, sample);
    return { ...base, dialect: undefined, skipLines: 0, header: keys.columns, columns: keys.columns, profiles: [], requiredKeys: keys.required };
  }
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

function csvLayout(text: string, truncated: boolean, opts: InputOptions): Omit<InputLayout, 'file' | 'format' | 'encoding'> {
  const explicit = explicitDialect(opts);
  const hint = SEP_HINT.exec(text);
  const sample = hint === null ? text : text.slice(hint[0].length);
  if (hint !== null) explicit.delimiter ??= hint[1]!;
  const detected = detectDialect(sample, truncated, explicit);
  const rows = detected.sample.rows;
  const first = rows[0];
  const hasHeader = first !== undefined && (opts.header ?? detectHeader(rows, detected.width));
  let header: string[] | null = null;
  let columns: string[];
  if (hasHeader) {
    header = first.map((name, i) => name.trim() || `column_${i + 1}`);
    const seen = new Map<string, number>();
    const line = detected.sample.firstLine + (hint === null ? 0 : 1);
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
async function sampleKeys(format: 'jsonl' | 'json', sample: string): Promise<{ columns: string[]; required: string[] }> {
  const objects: Record<string, unknown>[] = [];
  const chunks = once(sample);
  if (format === 'jsonl') {
    for await (const item of splitLines(chunks)) {
      if (!('text' in item) || objects.length >= SAMPLE_ROWS) break;
      if (item.text.trim() === '') continue;
      const parsed = parseObject(item.text);
      if ('object' in parsed) objects.push(parsed.object);
    }
  } else {
    for await (const item of jsonArrayElements(chunks)) {
      if (!('text' in item) || objects.length >= SAMPLE_ROWS) break;
      const parsed = parseObject(item.text);
      if ('object' in parsed) objects.push(parsed.object);
    }
  }
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const object of objects) {
    for (const key of Object.keys(object)) {
      if (!seen.has(key)) {
        seen.add(key);
        columns.push(key);
      }
    }
  }
  // A key nearly every object has is one the rows are meant to have; a row without it is reported
  // rather than read as empty. Keys fewer objects have are optional.
  const required = columns.filter((key) => objects.filter((o) => Object.hasOwn(o, key)).length >= objects.length * REQUIRED_SHARE);
  return { columns, required };
}
