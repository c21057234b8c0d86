import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inspectInput, type InspectReport } from '../../src/input/index.js';
import { fixture } from './helpers.js';

/**
 * The dialect corpus (fixtures/dialects/cases.json): small realistic files, each with what a careful
 * person reading it would say. `delimiter: null` on a delimited file means "one column, no delimiter":
 * the reported delimiter must then be one the file does not contain, so no cell is ever split.
 */
interface CorpusCase {
  file: string;
  note: string;
  expect: {
    format: InspectReport['format'];
    delimiter: string | null;
    quote: string | null;
    header: string[] | null;
    columns: number;
    rows: number;
    problems: Array<[number, string]>;
    /** Blank lines skipped, when the case is about them. */
    blank_lines?: number;
  };
}

const MANIFEST = fixture('dialects/cases.json');
const CASES = JSON.parse(readFileSync(MANIFEST, 'utf8')) as CorpusCase[];
/** Share of cases that must be right in every field. */
const REQUIRED_ACCURACY = 0.97;

/** The fields of the report that differ from the expectation, as `field: got X, expected Y`. */
async function check(c: CorpusCase): Promise<string[]> {
  const path = fixture(`dialects/${c.file}`);
  let report: InspectReport;
  try {
    report = await inspectInput(path);
  } catch (error) {
    return [`threw ${(error as Error).name}: ${(error as Error).message.split('\n')[0]}`];
  }
  const e = c.expect;
  const got = {
    format: report.format,
    delimiter: report.delimiter,
    quote: report.quote,
    header: report.header,
    columns: report.columns,
    rows: report.rows,
    problems: report.problems.map((p) => [p.line, p.kind]),
    blank_lines: report.blank_lines,
  };
  const misses: string[] = [];
  const differ = (field: keyof typeof got, expected: unknown): void => {
    if (JSON.stringify(got[field]) !== JSON.stringify(expected))
      misses.push(`${field}: got ${JSON.stringify(got[field])}, expected ${JSON.stringify(expected)}`);
  };
  differ('format', e.format);
  if (e.format === 'csv' && e.delimiter === null) {
    const text = new TextDecoder(report.encoding).decode(readFileSync(path));
    if (report.delimiter === null || text.includes(report.delimiter))
      misses.push(`delimiter: got ${JSON.stringify(report.delimiter)}, which splits the file; expected none (one column)`);
  } else {
    differ('delimiter', e.delimiter);
  }
  differ('quote', e.quote);
  differ('header', e.header);
  differ('columns', e.columns);
  differ('rows', e.rows);
  differ('problems', e.problems);
  if (e.blank_lines !== undefined) differ('blank_lines', e.blank_lines);
  return misses;
}

describe('dialect corpus', () => {
  it('lists every file of fixtures/dialects once, with at least 60 cases', () => {
    const files = readdirSync(fixture('dialects')).filter((f) => !['cases.json', 'README.md', '.gitattributes'].includes(f));
    expect(CASES.map((c) => c.file).sort()).toEqual(files.sort());
    expect(CASES.length).toBeGreaterThanOrEqual(60);
  });

  it(`detects format, delimiter, quote, header, columns, rows and problem lines right in at least ${REQUIRED_ACCURACY * 100}% of cases`, async () => {
    const misses: string[] = [];
    for (const c of CASES) {
      const wrong = await check(c);
      if (wrong.length > 0) misses.push(`  ${c.file} (${c.note}):\n    ${wrong.join('\n    ')}`);
    }
    const right = CASES.length - misses.length;
    const accuracy = right / CASES.length;
    console.log(
      `dialect corpus: ${right} of ${CASES.length} right (${(accuracy * 100).toFixed(1)}%)${misses.length > 0 ? `; misses:\n${misses.join('\n')}` : ''}`,
    );
    expect(accuracy, misses.join('\n')).toBeGreaterThanOrEqual(REQUIRED_ACCURACY);
  });
});
