import type { ConfigError } from '../errors/config-error.js';
import { badRowError } from './bad-rows-error.js';
import { describeInput } from './describe-input.js';
import type { InputLayout } from './input-layout.js';
import type { InputOptions, InputRecord } from './input-source.js';
import { isRepairable, stopsReading, type Problem } from './problem.js';
import { scanRows } from './scan-rows.js';

/** Problems kept in a report; past this only the count grows, so memory stays bounded on a hopeless file. */
export const MAX_PROBLEMS = 1000;

export interface InputValidation {
  format: InputLayout['format'];
  columns: string[];
  /** Data rows (header and blank lines not counted), good and bad. */
  rows: number;
  /** Blank lines skipped (empty, whitespace or delimiters only), wherever they are in the file. */
  blankLines: number;
  /** The first MAX_PROBLEMS problems, in file order. */
  problems: Problem[];
  /** All problems, including those past MAX_PROBLEMS. */
  problemCount: number;
}

/** One streaming pass over an already described file. */
export async function validateLayout(layout: InputLayout): Promise<InputValidation> {
  let rows = 0;
  let blankLines = 0;
  let problemCount = 0;
  const problems: Problem[] = [];
  for await (const row of scanRows(layout)) {
    if (row.blank) {
      blankLines++;
      continue;
    }
    if (row.betweenRows !== true) rows++;
    if (row.problem === undefined) continue;
    problemCount++;
    if (problems.length < MAX_PROBLEMS) problems.push(row.problem);
  }
  return { format: layout.format, columns: layout.columns, rows, blankLines, problems, problemCount };
}

/**
 * Reads the whole file once, streaming, and returns every problem row without deciding anything:
 * run it before any record is used so that `fail` can name all bad rows at once (see badRowsError).
 * Throws ConfigError only when the file cannot be read at all (missing, not UTF-8, empty).
 */
export async function validateInput(opts: InputOptions): Promise<InputValidation> {
  return validateLayout(await describeInput(opts));
}

/**
 * validateInput and records() in one pass, for callers that need both (prepareJob): every problem is
 * collected as validateInput does, and each record records() would yield under the bad-row policy is
 * handed to `onRecord`, up to the row where records() would throw (that error is returned as `stop`).
 * One reading of the file instead of two.
 */
export async function validateRecords(opts: InputOptions, onRecord: (record: InputRecord) => void): Promise<InputValidation & { stop?: ConfigError }> {
  const layout = await describeInput(opts);
  const policy = opts.onBadRow ?? 'fail';
  let rows = 0;
  let blankLines = 0;
  let problemCount = 0;
  const problems: Problem[] = [];
  let stop: ConfigError | undefined;
  for await (const row of scanRows(layout)) {
    if (row.blank) {
      blankLines++;
      continue;
    }
    if (row.betweenRows !== true) rows++;
    const { problem, line, values } = row;
    if (problem !== undefined) {
      problemCount++;
      if (problems.length < MAX_PROBLEMS) problems.push(problem);
    }
    if (stop) continue;
    if (problem === undefined) onRecord({ line, values: values! });
    else if (stopsReading(problem)) stop = badRowError(layout.file, problem, policy);
    else if (policy === 'skip') continue;
    else if (policy === 'repair' && isRepairable(problem)) {
      if (values !== undefined) onRecord({ line, values });
    } else stop = badRowError(layout.file, problem, policy);
  }
  return { format: layout.format, columns: layout.columns, rows, blankLines, problems, problemCount, ...(stop ? { stop } : {}) };
}
