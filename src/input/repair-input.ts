import { createWriteStream } from 'node:fs';
import { realpath, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import { ConfigError } from '../errors/config-error.js';
import { tempPathFor } from '../files/temp-path.js';
import { badRowError, unhandledProblems } from './bad-rows-error.js';
import { describeInput } from './describe-input.js';
import type { InputOptions } from './input-source.js';
import { isRepairable, type Problem } from './problem.js';
import { scanRows } from './scan-rows.js';
import { validateLayout } from './validate-input.js';

export interface RepairResult {
  /** Absolute path of the clean file; only present on disk when `written`. */
  out: string;
  written: boolean;
  /** Data rows written. */
  rows: number;
  /** Rows whose cells were merged as proposed. */
  repaired: number;
  /** Blank lines left out. */
  dropped: number;
  /** Rows with no safe repair; when there are any, nothing is written. */
  unrepairable: Problem[];
}

async function samePath(a: string, b: string): Promise<boolean> {
  const real = async (p: string): Promise<string> => realpath(p).catch(() => resolve(p));
  return (await real(a)) === (await real(b));
}

/**
 * Writes a clean copy of a delimited text file: proposed merges applied, blank lines dropped, every
 * field quoted where it needs to be (csv-stringify), UTF-8 without BOM, LF line endings, same
 * delimiter and quote as the input. Refuses to overwrite the input, and writes nothing when any bad
 * row has no safe repair (they are returned, so the person fixes them by hand). The file appears
 * whole or not at all: it is written to a temporary name beside `out`, then renamed.
 */
export async function repairInput(opts: InputOptions, out: string): Promise<RepairResult> {
  const target = resolve(out);
  if (await samePath(opts.file, target)) {
    throw new ConfigError(`Refusing to overwrite the input file ${opts.file} with its repair.`, {
      code: 'INPUT_REPAIR_OVERWRITE',
      file: opts.file,
      hint: 'Pass another path with --out, check the result with `genbatch inspect`, then replace the original yourself.',
    });
  }
  const layout = await describeInput(opts);
  if (layout.format !== 'csv' || layout.dialect === undefined) {
    throw new ConfigError(`${opts.file} is ${layout.format === 'json' ? 'a JSON array' : 'JSON Lines'}; repair only rewrites delimited text files.`, {
      code: 'INPUT_REPAIR_UNSUPPORTED',
      file: opts.file,
      hint: 'Fix the JSON rows that `genbatch inspect` lists by hand.',
    });
  }
  const validation = await validateLayout(layout);
  const unrepairable = unhandledProblems(validation.problems, 'repair');
  const result: RepairResult = { out: target, written: false, rows: 0, repaired: 0, dropped: 0, unrepairable };
  if (unrepairable.length > 0) return result;

  const { columns, header, dialect } = layout;
  async function* cells(): AsyncGenerator<string[]> {
    if (header !== null) yield header;
    for await (const row of scanRows(layout)) {
      if (row.blank) {
        result.dropped++;
        continue;
      }
      if (row.problem !== undefined) {
        // Only reached past MAX_PROBLEMS, where the first pass kept counts rather than rows.
        if (!isRepairable(row.problem)) throw badRowError(layout.file, row.problem, 'repair');
        result.repaired++;
      }
      result.rows++;
      const values = row.values!;
      yield columns.map((c) => values[c] ?? '');
    }
  }

  // Streamed (never whole in memory) into a temp file named as every atomic write of genbatch's.
  const temp = tempPathFor(target);
  const writer = stringify({
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    escape: dialect.quote,
    record_delimiter: 'unix',
    // A bare CR inside a value ends a line for most readers: it must be quoted too.
    quote_record_delimiter: true,
  });
  try {
    await pipeline(Readable.from(cells()), writer, createWriteStream(temp));
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  result.written = true;
  return result;
}
