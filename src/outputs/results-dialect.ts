import type { Job } from '../job/job.js';

/** How the CSV results file is written. */
export interface ResultsDialect {
  delimiter: string;
  /** Start with a UTF-8 byte-order mark. */
  bom: boolean;
  /** End records with CRLF. */
  crlf: boolean;
  /** The first column's name. */
  idColumn: string;
  /** Input columns carried after the id column. */
  columns: string[];
}

/** Delimiters a spreadsheet export's results may inherit; any other (a one-column file's stand-in) gives way to a comma. */
const SHEET_DELIMITERS = new Set([',', ';', '\t', '|']);

/**
 * The results file reads like the input when the input is a spreadsheet export (job.inputDialect,
 * found by prepareJob): its delimiter, CRLF, and a BOM when it had one or was not UTF-8 (results are
 * written in UTF-8, which Excel only recognises by its BOM); its first column is named as the
 * input's id column. What `results: { delimiter, bom }` sets wins. Any other input with
 * `results: PATH` or `{ file, fields }` gets the file it always got: commas, LF, no BOM, first
 * column `id`; with `columns:` the first column is named as the input's id column.
 */
export function resultsDialect(job: Job): ResultsDialect {
  const format = job.resultsFormat;
  const input = job.inputDialect?.spreadsheet ? job.inputDialect : undefined;
  const inherited = input?.delimiter !== undefined && SHEET_DELIMITERS.has(input.delimiter) ? input.delimiter : ',';
  return {
    delimiter: format?.delimiter ?? inherited,
    bom: format?.bom ?? (input !== undefined && (input.bom || input.encoding !== 'utf-8')),
    crlf: input?.crlf ?? false,
    // Named like the input's for a spreadsheet, or when input columns are carried; else `id`, which scripts read.
    idColumn: input !== undefined || (format?.columns?.length ?? 0) > 0 ? job.input.id : 'id',
    columns: (format?.columns ?? []).filter((c) => c !== job.input.id),
  };
}
