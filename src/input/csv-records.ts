import { Readable } from 'node:stream';
import { parse, CsvError } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { countLineBreaks, csvParseOptions, MAX_RECORD_CHARS, showChar, type Dialect } from './csv-dialect.js';
import { decodeFile } from './decode.js';
import type { DetectedEncoding } from './encoding.js';
import type { ProblemKind } from './problem.js';

/** One row as split, with the line it starts on; or the point where the file could not be split further. */
export type CsvRecord = { line: number; cells: string[] } | { line: number; failure: { kind: ProblemKind; cells: number; message: string } };

/**
 * Streams the rows of a delimited text file through csv-parse, one decoded chunk at a time; memory
 * holds a chunk and the current row, never the file. Reading ends at an unclosed quote or an
 * oversized row, since nothing after it can be split reliably.
 */
export async function* readCsvRecords(file: string, encoding: DetectedEncoding, dialect: Dialect): AsyncGenerator<CsvRecord> {
  const source = Readable.from(decodeFile(file, encoding));
  const parser = parse(csvParseOptions(dialect));
  // Errors of the source (unreadable file, invalid UTF-8) surface through the parser's iterator.
  source.on('error', (error) => parser.destroy(error));
  source.pipe(parser);
  let line = 1;
  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; raw: string }>) {
      const breaks = countLineBreaks(item.raw);
      // Only a row with a line break inside (more than the one that ends it) can hide a stray quote.
      const broken = breaks > 1 || (breaks === 1 && !endsWithBreak(item.raw)) ? strayQuote(item.record, item.raw, dialect) : undefined;
      if (broken !== undefined) {
        yield { line, failure: broken };
        return;
      }
      yield { line, cells: item.record };
      line += breaks;
    }
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    // Whether a quoted cell was still open when reading stopped: the parser's own state says.
    const quoting = (parser as unknown as { state?: { quoting?: boolean } }).state?.quoting === true;
    yield { line, failure: failureOf(error, dialect, quoting) };
  } finally {
    source.destroy();
    parser.destroy();
  }
}

function endsWithBreak(raw: string): boolean {
  const last = raw.charCodeAt(raw.length - 1);
  return last === 0x0a || last === 0x0d;
}

/** Line break characters, checked only in rows that span lines. */
const LINE_BREAK = /[\r\n]/;

/**
 * A quote opened and never closed where it should be, then "closed" by the quote of a later cell:
 * `2,Queues,"Decouple producers` followed by `3,Retries,"Back off, with jitter."` reads as one row
 * whose third cell swallowed the next line. Lenient parsing (needed for `27" monitor`) keeps such a
 * cell as text, opening quote included, so it is recognised by that, confirmed by a strict parse of
 * the row, and reported like any unclosed quote: nothing after it can be split reliably.
 */
function strayQuote(cells: readonly string[], raw: string, dialect: Dialect): { kind: ProblemKind; cells: number; message: string } | undefined {
  const index = cells.findIndex((cell) => cell.startsWith(dialect.quote) && LINE_BREAK.test(cell));
  if (index < 0) return undefined;
  try {
    parseSync(raw, { ...csvParseOptions(dialect), relax_quotes: false });
    return undefined;
  } catch (error) {
    if (!(error instanceof CsvError) || error.code !== 'CSV_INVALID_CLOSING_QUOTE') return undefined;
  }
  return {
    kind: 'unterminated_quote',
    cells: index + 1,
    message: `cell ${index + 1} opens a ${showChar(dialect.quote)} that is not closed before its line ends, so the next line${countLineBreaks(cells[index]!) === 1 ? ' was' : 's were'} read into it up to a later quote; close it, or double it (${dialect.quote}${dialect.quote}) if it is text.`,
  };
}

function failureOf(error: CsvError, dialect: Dialect, quoting: boolean): { kind: ProblemKind; cells: number; message: string } {
  const index = typeof error['index'] === 'number' ? error['index'] : 0;
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return {
        kind: 'unterminated_quote',
        cells: index + 1,
        message: `cell ${index + 1} opens a ${showChar(dialect.quote)} that is never closed, so the rest of the file would be one cell; close it, or double it (${dialect.quote}${dialect.quote}) if it is text.`,
      };
    case 'CSV_MAX_RECORD_SIZE':
      // Too long inside an open quote: the quote is the problem, not the length.
      if (quoting) {
        return {
          kind: 'unterminated_quote',
          cells: index + 1,
          message: `cell ${index + 1} opens a ${showChar(dialect.quote)} that is still open ${MAX_RECORD_CHARS.toLocaleString('en')} characters later, so the rest of the file would be one cell; close it, or double it (${dialect.quote}${dialect.quote}) if it is text.`,
        };
      }
      return {
        kind: 'record_too_large',
        cells: index + 1,
        message: `the row is longer than ${MAX_RECORD_CHARS.toLocaleString('en')} characters, the most genbatch reads in one row (no quote is left open: the text itself is that long, up to cell ${index + 1}); reading stops here.`,
      };
    default:
      return { kind: 'malformed_row', cells: index + 1, message: `the row cannot be split: ${error.message}` };
  }
}
