import { parse, CsvError } from 'csv-parse/sync';
import { countLineBreaks, csvParseOptions, type Dialect } from './csv-dialect.js';

/** Rows detection looks at; with SAMPLE_BYTES this bounds the work per candidate dialect. */
export const SAMPLE_ROWS = 200;

export interface SampleRows {
  /** Non-blank rows as split, the first one included. */
  rows: string[][];
  /** Cells that were enclosed in the quote character: evidence that it is the quote. */
  quotedCells: number;
  /** Lines of the sample that an unclosed quote swallowed (0 when every quote closed). */
  swallowedLines: number;
  /** Line of the sample where the first row (the header, if any) starts: past any blank lines. */
  firstLine: number;
}

function isBlank(cells: readonly string[]): boolean {
  return cells.every((c) => c.trim() === '');
}

/**
 * Splits the detection sample with one candidate dialect. The sample of a longer file ends at a line
 * break (see decodeSample); a quote still open there is forgiven when it swallows only the last few
 * lines, since a multi-line cell may straddle the cut.
 *
 * Linear in the sample, whatever the row width: `raw` is off here, because with it csv-parse copies
 * the row so far into the context of every cell it hands to `cast` (a 64,000-column header took
 * minutes). Line numbers come from the byte offset csv-parse reports at the end of each row instead.
 */
export function splitSample(sample: string, truncated: boolean, dialect: Dialect): SampleRows {
  const rows: string[][] = [];
  const bytes = Buffer.from(sample, 'utf8');
  let quotedCells = 0;
  let line = 1;
  let rowStart = 0;
  let swallowedLines = 0;
  let firstLine = 1;
  try {
    parse(sample, {
      ...csvParseOptions(dialect),
      raw: false,
      to: SAMPLE_ROWS + 1,
      cast: (value, context) => {
        if (context.quoting) quotedCells++;
        return value;
      },
      on_record: (record: string[], info) => {
        if (!isBlank(record)) {
          if (rows.length === 0) firstLine = line;
          rows.push(record);
        }
        // `bytes` is where the row ends, its line ending included.
        line += lineBreaksIn(bytes, rowStart, info.bytes);
        rowStart = info.bytes;
        return null;
      },
    });
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const totalLines = countLineBreaks(sample) + 1;
    const swallowed = totalLines - line + 1;
    if (!truncated || swallowed > Math.max(3, totalLines * 0.1)) swallowedLines = swallowed;
  }
  return { rows, quotedCells, swallowedLines, firstLine };
}

/** countLineBreaks over bytes `from` to `to` of UTF-8 text (line breaks are single bytes in UTF-8). */
function lineBreaksIn(bytes: Uint8Array, from: number, to: number): number {
  let breaks = 0;
  for (let i = from; i < to; i++) {
    const c = bytes[i];
    if (c === 0x0a) breaks++;
    else if (c === 0x0d) {
      breaks++;
      if (i + 1 < to && bytes[i + 1] === 0x0a) i++;
    }
  }
  return breaks;
}
