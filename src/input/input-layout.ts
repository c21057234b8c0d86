import type { ColumnProfile } from './column-profile.js';
import type { Dialect } from './csv-dialect.js';
import type { DetectedEncoding } from './encoding.js';
import type { InputFormat } from './input-source.js';

/**
 * Widest input read: past it, a file is refused before any row is split. Prompts name a handful of
 * columns; a file 100,000 columns wide is a transposed export or not a table at all, and every row
 * of it would be held (and stored in the state file) whole.
 */
export const MAX_COLUMNS = 10_000;

/** Everything detection learned from the head of the file; every later pass reads the file with it. */
export interface InputLayout {
  file: string;
  format: InputFormat;
  encoding: DetectedEncoding;
  /** Delimited text only. */
  dialect: Dialect | undefined;
  /** Lines end with CRLF (the first line break in the head is one), as Windows programs write them. */
  crlf: boolean;
  /** Lines at the top that belong to no row: 1 for Excel's `sep=;` hint line, else 0. */
  skipLines: number;
  /** Column names from the header row (delimited text) or the sampled keys (JSON); null when the first row is data. */
  header: string[] | null;
  /** Column names records are keyed by: the header, or `column_1`... when there is none. */
  columns: string[];
  /** Delimited text: what the sampled rows say about each column, for repair proposals. */
  profiles: ColumnProfile[];
  /** JSON formats: keys (nearly) every sampled object has; an object without one of them is a problem. */
  requiredKeys: string[];
}
