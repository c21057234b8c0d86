import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/config-error.js';
import { isGenbatchError } from '../../src/errors/genbatch-error.js';
import {
  inspectInput,
  openInput,
  repairInput,
  stopsReading,
  validateInput,
  type BadRowPolicy,
  type InputOptions,
  type InspectReport,
} from '../../src/input/index.js';
import { fixture, tempDir } from './helpers.js';

/**
 * Seeded random and mutated files fed to every reader: each pass must end in a result or a typed
 * error (GenbatchError; a ConfigError about a row or a byte names its line), never an unhandled
 * exception or a hang. A failing case prints its number and mutations, so `CASE=n` reruns it alone;
 * FUZZ_CASES and FUZZ_SEED run a longer or another sequence.
 */

const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed_2024);
const CASES = Number(process.env['FUZZ_CASES'] ?? 300);
/** Per pass; the files are small, so anything near this is a hang. */
const PASS_TIMEOUT_MS = 3000;
/** Error codes about a place in the file: they must carry its line. */
const LINE_CODES = new Set([
  'INPUT_BAD_ROW',
  'INPUT_BAD_ROWS',
  'INPUT_NOT_UTF8',
  'INPUT_HEADER_INVALID',
  'INPUT_NOT_TEXT',
  'INPUT_TOO_WIDE',
  'INPUT_NOT_OBJECTS',
]);

/** mulberry32: small, fast, and the same sequence everywhere. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Source {
  name: string;
  bytes: Buffer;
}

function loadSources(): Source[] {
  const sources: Source[] = [];
  for (const folder of ['input', 'dialects']) {
    for (const name of readdirSync(fixture(folder)).sort()) {
      const path = fixture(`${folder}/${name}`);
      if (name.startsWith('.') || name === 'cases.json' || name === 'README.md' || !statSync(path).isFile()) continue;
      const bytes = readFileSync(path);
      // Mutating the long files buys nothing the short ones do not, at ten times the cost.
      if (bytes.length <= 16 * 1024) sources.push({ name: `${folder}/${name}`, bytes });
    }
  }
  return sources;
}

const EXTENSIONS = ['.csv', '.tsv', '.txt', '.json', '.jsonl', '.dat', ''];
const INSERTS: ReadonlyArray<readonly number[]> = [
  [0x22],
  [0x27],
  [0x2c],
  [0x3b],
  [0x7c],
  [0x09],
  [0x3a],
  [0x0a],
  [0x0d],
  [0x0d, 0x0a],
  [0x00],
  [0x00, 0x00],
  [0xef, 0xbb, 0xbf],
  [0xff, 0xfe],
  [0xfe, 0xff],
  [0xff],
  [0xc3],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0x5b],
  [0x5d],
  [0x7b],
  [0x7d],
  [0x5c, 0x22],
  [0x22, 0x22],
  [0x20],
];

type Mutation = (bytes: Buffer, random: () => number) => { bytes: Buffer; what: string };

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]!;
const at = (bytes: Buffer, random: () => number): number => Math.floor(random() * (bytes.length + 1));

const MUTATIONS: Mutation[] = [
  (b, r) => {
    const out = Buffer.from(b);
    const n = 1 + Math.floor(r() * 4);
    // The high bit mostly makes invalid UTF-8, which stops every pass at once: flip it less often.
    for (let i = 0; i < n && out.length > 0; i++) out[Math.floor(r() * out.length)]! ^= 1 << Math.floor(r() * (r() < 0.8 ? 7 : 8));
    return { bytes: out, what: `flip ${n} bits` };
  },
  (b, r) => {
    const cut = at(b, r);
    return { bytes: b.subarray(0, cut), what: `truncate at ${cut}` };
  },
  (b, r) => {
    const insert = pick(INSERTS, r);
    const pos = at(b, r);
    return {
      bytes: Buffer.concat([b.subarray(0, pos), Buffer.from(insert), b.subarray(pos)]),
      what: `insert ${Buffer.from(insert).toString('hex')} at ${pos}`,
    };
  },
  (b, r) => {
    const start = Math.floor(r() * b.length);
    const end = Math.min(b.length, start + 1 + Math.floor(r() * 200));
    const pos = at(b, r);
    return { bytes: Buffer.concat([b.subarray(0, pos), b.subarray(start, end), b.subarray(pos)]), what: `copy ${start}..${end} to ${pos}` };
  },
  (b, r) => {
    const start = Math.floor(r() * b.length);
    const end = Math.min(b.length, start + 1 + Math.floor(r() * 50));
    return { bytes: Buffer.concat([b.subarray(0, start), b.subarray(end)]), what: `delete ${start}..${end}` };
  },
  (b, r) => {
    // Excel's delimiter hint, with a usual or an odd character.
    const hint = Buffer.from(`sep=${pick([';', ',', '|', '\t', ' ', '\\', '\u0000', '😀', '', '""'], r)}${pick(['\n', '\r\n', '\r', ''], r)}`);
    return { bytes: Buffer.concat([hint, b]), what: `prepend ${JSON.stringify(hint.toString())}` };
  },
  (b, r) => {
    const pos = at(b, r);
    const junk = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256)));
    return { bytes: Buffer.concat([b.subarray(0, pos), junk, b.subarray(pos)]), what: `insert ${junk.length} random bytes at ${pos}` };
  },
];

/** Random bytes from a few alphabets: raw noise, delimiter soup, and text with stray structure. */
function randomFile(random: () => number): { bytes: Buffer; what: string } {
  const length = Math.floor(random() * 3000);
  const alphabet = pick(['bytes', 'csv', 'json', 'utf16'] as const, random);
  const soup = Buffer.from('abc xyz 123,;|\t:"\'\r\n\n{}[]\\é€', 'utf8');
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    if (alphabet === 'bytes') out[i] = Math.floor(random() * 256);
    else if (alphabet === 'csv') out[i] = soup[Math.floor(random() * soup.length)]!;
    else if (alphabet === 'json') out[i] = Buffer.from('{"a": [1, 2.5, true, null, "x,y"]}\n ,:')[Math.floor(random() * 36)]!;
    else out[i] = i % 2 === 1 ? 0 : 0x20 + Math.floor(random() * 95);
  }
  return { bytes: out, what: `${length} random ${alphabet}` };
}

/** Every fourth file is also read with options a person may set, some of them odd. */
function randomOptions(random: () => number): Omit<InputOptions, 'file'> {
  const opts: Omit<InputOptions, 'file'> = {};
  if (random() < 0.5) opts.delimiter = pick([',', ';', '|', '\t', 'tab', ':', '"', "'", ' ', '~', 'auto'], random);
  if (random() < 0.3) opts.quote = pick(['"', "'", 'auto'], random);
  if (random() < 0.3) opts.encoding = pick(['latin1', 'windows-1252', 'utf-16le', 'utf-16be', 'utf8'], random);
  if (random() < 0.3) opts.header = random() < 0.5;
  if (random() < 0.2) opts.format = pick(['csv', 'jsonl', 'json'] as const, random);
  return opts;
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HANG: ${what} took over ${PASS_TIMEOUT_MS} ms`)), PASS_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs one pass; returns a failure description, or nothing when it ended well. Counts outcomes by error code. */
async function pass(what: string, run: () => Promise<unknown>, outcomes?: Map<string, number>): Promise<string | undefined> {
  const count = (key: string): void => void outcomes?.set(key, (outcomes.get(key) ?? 0) + 1);
  try {
    await withTimeout(run(), what);
    count('a report');
    return undefined;
  } catch (error) {
    count(isGenbatchError(error) ? error.code : 'untyped error');
    if (!isGenbatchError(error))
      return `${what}: untyped ${(error as Error)?.name ?? typeof error}: ${String((error as Error)?.message ?? error).split('\n')[0]}`;
    if (error instanceof ConfigError && LINE_CODES.has(error.code) && !(Number.isInteger(error.line) && error.line! >= 1)) {
      return `${what}: ${error.code} without a line number: ${error.message.split('\n')[0]}`;
    }
    return undefined;
  }
}

describe('fuzzed input', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await tempDir()));
  afterAll(async () => cleanup());

  it('ends in a result or a typed error on oversized, deeply nested and NUL-filled files', async () => {
    const long = 'x'.repeat(1_100_000);
    const posts = Array.from({ length: 2000 }, (_, i) => ({ id: i, title: `Post ${i}`, body: 'lorem ipsum, dolor sit amet. '.repeat(2) }));
    const files: Array<[string, string, (report: InspectReport) => void]> = [
      ['long-header.csv', `${'a'.repeat(70_000)},b\n1,2\n`, (r) => expect(r).toMatchObject({ columns: 2, rows: 1 })],
      // A quote still open when the row reaches the size limit is reported as the unclosed quote it is.
      ['unclosed.csv', `a,b\n1,2\n3,"${long}\n4,5\n`, (r) => expect(r.problems.map((p) => [p.line, p.kind])).toEqual([[3, 'unterminated_quote']])],
      ['long-cell.csv', `a,b\n1,2\n3,${long}\n4,5\n`, (r) => expect(r.problems.map((p) => [p.line, p.kind])).toEqual([[3, 'record_too_large']])],
      ['long-line.jsonl', `{"a":1}\n{"a":"${long}"}\n{"a":2}\n`, (r) => expect(r.problems.map((p) => [p.line, p.kind])).toEqual([[2, 'record_too_large']])],
      ['compact.json', JSON.stringify(posts), (r) => expect(r).toMatchObject({ format: 'json', columns: 3, rows: 2000, problem_count: 0 })],
      [
        'big-first.json',
        JSON.stringify([
          { id: 0, vector: Array.from({ length: 20_000 }, (_, i) => i / 7) },
          { id: 1, vector: [] },
        ]),
        (r) => expect(r).toMatchObject({ header: ['id', 'vector'], rows: 2, problem_count: 0 }),
      ],
      [
        'deep.jsonl',
        `{"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}\n{"a":1}\n`,
        (r) => expect(r.problems.map((p) => [p.line, p.kind])).toEqual([[1, 'invalid_json']]),
      ],
      ['deep.json', `[{"a": 1}, ${'['.repeat(50_000)}${']'.repeat(50_000)}]`, (r) => expect(r.problem_count).toBe(1)],
    ];
    for (const [name, text, check] of files) {
      const file = join(dir, name);
      await writeFile(file, text);
      const report = await withTimeout(inspectInput(file), name);
      check(report);
      for (const onBadRow of ['fail', 'repair', 'skip'] as BadRowPolicy[]) {
        expect(
          await pass(`${name} records(${onBadRow})`, async () => {
            for await (const _ of (await openInput({ file, onBadRow })).records());
          }),
        ).toBeUndefined();
      }
    }
    // A file with no object among its rows has no column names: refused, naming the first row.
    const deep = join(dir, 'only-deep.json');
    await writeFile(deep, `[${'['.repeat(50_000)}${']'.repeat(50_000)}]`);
    await expect(withTimeout(inspectInput(deep), 'only-deep.json')).rejects.toMatchObject({ code: 'INPUT_NOT_OBJECTS', line: 1 });
    // NUL bytes are not text: refused before any row is split, naming the line of the first one.
    const nuls = join(dir, 'nuls.csv');
    await writeFile(nuls, `a,b\n${'\0'.repeat(5000)}\n1,2\n`);
    await expect(withTimeout(inspectInput(nuls), 'nuls.csv')).rejects.toMatchObject({ code: 'INPUT_NOT_TEXT', line: 2 });
    expect(await pass('nuls.csv records', async () => (await openInput({ file: nuls })).records())).toBeUndefined();
  });

  it(
    `ends every pass over ${CASES} random and mutated files in a result or a typed error`,
    async () => {
      const sources = loadSources();
      const only = process.env['CASE'] === undefined ? undefined : Number(process.env['CASE']);
      const failures: string[] = [];
      const outcomes = new Map<string, number>();
      let passes = 0;
      for (let n = 0; n < CASES; n++) {
        const random = rng(SEED + n);
        let bytes: Buffer;
        let what: string;
        let ext: string;
        if (n % 8 === 7) {
          ({ bytes, what } = randomFile(random));
          ext = pick(EXTENSIONS, random);
        } else {
          const source = sources[n % sources.length]!;
          bytes = source.bytes;
          const steps: string[] = [source.name];
          const count = 1 + Math.floor(random() * 3);
          for (let i = 0; i < count; i++) {
            const mutated = pick(MUTATIONS, random)(bytes, random);
            bytes = mutated.bytes;
            steps.push(mutated.what);
          }
          what = steps.join(', ');
          ext = random() < 0.8 ? extname(source.name) : pick(EXTENSIONS, random);
        }
        if (only !== undefined && n !== only) continue;
        const file = join(dir, `case-${n}${ext}`);
        await writeFile(file, bytes);
        const opts = n % 4 === 3 ? randomOptions(random) : {};
        const label = `case ${n} (${what}, ${ext || 'no extension'}${Object.keys(opts).length > 0 ? `, ${JSON.stringify(opts)}` : ''})`;
        let report: InspectReport | undefined;
        const results = [
          await pass(
            `${label} inspect`,
            async () => {
              report = await inspectInput(file, opts);
              const validation = await validateInput({ ...opts, file });
              // Two passes over the same bytes must agree.
              if (validation.rows !== report.rows || validation.problemCount !== report.problem_count)
                throw new Error(`validate (${validation.rows} rows) and inspect (${report.rows}) disagree`);
            },
            outcomes,
          ),
        ];
        for (const onBadRow of ['fail', 'repair', 'skip'] as BadRowPolicy[]) {
          results.push(
            await pass(`${label} records(${onBadRow})`, async () => {
              const opened = await openInput({ ...opts, file, onBadRow });
              let count = 0;
              for await (const record of opened.records()) {
                if (!Number.isInteger(record.line) || record.line < 1) throw new Error(`record with line ${record.line}`);
                count++;
              }
              if (report === undefined) return;
              // skip drops exactly the problem rows; fail only finishes on a clean file.
              const dropped = report.problems.filter((p) => !stopsReading(p)).length;
              if (onBadRow === 'skip' && report.problem_count === report.problems.length && count !== report.rows - dropped) {
                throw new Error(`skip yielded ${count} records, expected ${report.rows - dropped}`);
              }
              if (onBadRow === 'fail' && report.problem_count > 0) throw new Error(`fail policy finished despite ${report.problem_count} problems`);
            }),
          );
        }
        results.push(await pass(`${label} repair`, () => repairInput({ ...opts, file }, join(dir, `case-${n}.repaired.csv`))));
        for (const result of results) {
          passes++;
          if (result !== undefined) failures.push(result);
        }
      }
      const seen = [...outcomes]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      console.log(`fuzz: ${only === undefined ? CASES : 1} files, ${passes} passes, ${failures.length} failures; inspect ended in: ${seen}`);
      expect(failures).toEqual([]);
    },
    Math.max(60_000, CASES * 100),
  );
});
