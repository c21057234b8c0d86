import { Readable } from 'node:stream';
import { parse, CsvError } from 'csv-parse';
import { countLineBreaks, csvParseOptions, MAX_RECORD_CHARS, showChar, type Dialect } from './csv-dialect.js';
import { decodeFile } from './decode.js';
import type { DetectedEncoding } from './encoding.js';
import type { ProblemKind } from './problem.js';

/** One row as split, with the line it starts on; or the point where the file could not be split further. */
export type CsvRecord =
  | { line: number; cells: string[] }
  | { line: number; failure: { kind: ProblemKind; cells: number; message: string } };

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
      yield { line, cells: item.record };
      line += countLineBreaks(item.raw);
    }
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    yield { line, failure: failureOf(error, dialect) };
  } finally {
    source.destroy();
    parser.destroy();
  }
}

function failureOf(error: CsvError, dialect: Dialect): { kind: ProblemKind; cells: number; message: string } {
  const index = typeof error['index'] === 'number' ? error['index'] : 0;
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return {
        kind: 'unterminated_quote',
        cells: index + 1,
        message: `cell ${index + 1} opens a ${showChar(dialect.quote)} that is never closed, so the rest of the file would be one cell; close it, or double it (${dialect.quote}${dialect.quote}) if it is text.`,
      };
    case 'CSV_MAX_RECORD_SIZE':
      return {
        kind: 'record_too_large',
        cells: index + 1,
        message: `the row is longer than ${MAX_RECORD_CHARS.toLocaleString('en')} characters, usually a ${showChar(dialect.quote)} opened and never closed; reading stops here.`,
      };
    default:
      return { kind: 'malformed_row', cells: index + 1, message: `the row cannot be split: ${error.message}` };
  }
}
