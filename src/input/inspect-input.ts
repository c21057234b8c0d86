import { describeInput } from './describe-input.js';
import type { InputFormat, InputOptions } from './input-source.js';
import type { Problem } from './problem.js';
import { validateLayout } from './validate-input.js';

/**
 * What `genbatch inspect FILE --json` prints (docs/inspect.md). The keys of product.md stay as they
 * are; `problem_count` is added for files with more problems than are listed.
 */
export interface InspectReport {
  format: InputFormat;
  encoding: string;
  bom: boolean;
  /** Delimited text only; null for JSON formats. */
  delimiter: string | null;
  quote: string | null;
  /** Only when quotes inside quoted cells are escaped with a backslash (`\"`) rather than doubled. */
  escape?: string;
  /** Column names from the header row (or the JSON keys); null when the first row is data. */
  header: string[] | null;
  columns: number;
  /** Data rows, good and bad (header and blank lines not counted). */
  rows: number;
  problems: Problem[];
  problem_count: number;
  /** Blank lines skipped: empty, whitespace only, or delimiters only (`;;;`). Last: the contract's keys keep their order. */
  blank_lines: number;
}

/** Detects and checks a file in one streaming pass after the head; throws ConfigError when it cannot be read. */
export async function inspectInput(file: string, opts: Omit<InputOptions, 'file'> = {}): Promise<InspectReport> {
  const layout = await describeInput({ ...opts, file });
  const validation = await validateLayout(layout);
  return {
    format: layout.format,
    encoding: layout.encoding.name,
    bom: layout.encoding.bom,
    delimiter: layout.dialect?.delimiter ?? null,
    quote: layout.dialect?.quote ?? null,
    ...(layout.dialect?.escape === undefined ? {} : { escape: layout.dialect.escape }),
    header: layout.header,
    columns: layout.columns.length,
    rows: validation.rows,
    // Fixed key order, so the JSON reads like the contract.
    problems: validation.problems.map(({ line, kind, cells, expected, repair, message }) => ({
      line,
      kind,
      cells,
      expected,
      ...(repair === undefined ? {} : { repair }),
      message,
    })),
    problem_count: validation.problemCount,
    blank_lines: validation.blankLines,
  };
}
