import { describeInput } from './describe-input.js';
import type { InputLayout } from './input-layout.js';
import type { InputOptions } from './input-source.js';
import type { Problem } from './problem.js';
import { scanRows } from './scan-rows.js';

/** Problems kept in a report; past this only the count grows, so memory stays bounded on a hopeless file. */
export const MAX_PROBLEMS = 1000;

export interface InputValidation {
  format: InputLayout['format'];
  columns: string[];
  /** Data rows (header and blank lines not counted), good and bad. */
  rows: number;
  /** The first MAX_PROBLEMS problems, in file order. */
  problems: Problem[];
  /** All problems, including those past MAX_PROBLEMS. */
  problemCount: number;
}

/** One streaming pass over an already described file. */
export async function validateLayout(layout: InputLayout): Promise<InputValidation> {
  let rows = 0;
  let problemCount = 0;
  const problems: Problem[] = [];
  for await (const row of scanRows(layout)) {
    if (row.betweenRows !== true) rows++;
    if (row.problem === undefined) continue;
    problemCount++;
    if (problems.length < MAX_PROBLEMS) problems.push(row.problem);
  }
  return { format: layout.format, columns: layout.columns, rows, problems, problemCount };
}

/**
 * Reads the whole file once, streaming, and returns every problem row without deciding anything:
 * run it before any record is used so that `fail` can name all bad rows at once (see badRowsError).
 * Throws ConfigError only when the file cannot be read at all (missing, not UTF-8, empty).
 */
export async function validateInput(opts: InputOptions): Promise<InputValidation> {
  return validateLayout(await describeInput(opts));
}
