import type { Options } from 'csv-parse';

/** How a delimited text file is split: one delimiter character and one quote character. */
export interface Dialect {
  delimiter: string;
  quote: string;
  /** What escapes a quote inside a quoted cell: the quote itself (`""`, RFC 4180; the default) or `\\` (MySQL exports). */
  escape?: string;
}

/** Longest row (in characters) the reader holds; past it, reading stops with `record_too_large`. */
export const MAX_RECORD_CHARS = 1_000_000;

/**
 * The csv-parse settings every pass shares. Rows of any length are accepted (counting cells is our
 * job, so problems carry our line numbers and repairs); a quote inside an unquoted field is kept as
 * text, as Excel does; each of CRLF, LF and CR ends a row; `raw` is on because its text is what
 * line numbers are counted from (see countLineBreaks).
 */
export function csvParseOptions(dialect: Dialect): Options {
  return {
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    escape: dialect.escape ?? dialect.quote,
    record_delimiter: ['\r\n', '\n', '\r'],
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: false,
    bom: false,
    raw: true,
    max_record_size: MAX_RECORD_CHARS,
  };
}

/**
 * Line breaks in a row's raw text, counted as an editor does (CRLF, LF or CR is one break).
 * csv-parse's own `info.lines` counts a CRLF inside a quoted field twice, so it drifts on Excel
 * exports with multi-line cells; its raw text (the row plus the start of its line ending) does not.
 */
export function countLineBreaks(text: string): number {
  let breaks = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) breaks++;
    else if (c === 0x0d) {
      breaks++;
      if (text.charCodeAt(i + 1) === 0x0a) i++;
    }
  }
  return breaks;
}

const CHAR_NAMES: Record<string, string> = {
  '\t': 'tab',
  ' ': 'space',
  ',': 'comma',
  ';': 'semicolon',
  '|': 'pipe',
  ':': 'colon',
  '"': 'double quote',
  "'": 'single quote',
};

/** Shows a delimiter or quote in messages: `"\t"` is unreadable, `tab (\t)` is not; `count` > 1 makes it plural. */
export function showChar(c: string, count = 1): string {
  const name = CHAR_NAMES[c];
  const shown = c === '\t' ? '\\t' : c;
  if (name === undefined) return count === 1 ? `"${shown}"` : `"${shown}" characters`;
  return `${name}${count === 1 ? '' : 's'} (${shown})`;
}
