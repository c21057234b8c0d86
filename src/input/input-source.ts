/**
 * The contract between input files and the rest of genbatch. The engine, validation and preview only
 * see records; how a file was decoded, split and repaired stays inside src/input.
 */

export type BadRowPolicy = 'fail' | 'repair' | 'skip';

export interface InputOptions {
  /** Absolute path of the input file. */
  file: string;
  /** `auto` (default) or one character. An explicit delimiter always wins over detection. */
  delimiter?: string;
  /** Quote character when not detected: `"` or `'`. */
  quote?: string;
  /** Forced encoding (e.g. `latin1`, `windows-1252`, `utf-16le`); default: detected. */
  encoding?: string;
  /** What to do with rows whose cell count differs from the header. Default `fail`. */
  onBadRow?: BadRowPolicy;
  /** Forced format; default: detected from the extension and the first bytes. */
  format?: InputFormat;
  /** Whether the first row of a delimited file names the columns; default: detected. */
  header?: boolean;
}

export type InputFormat = 'csv' | 'jsonl' | 'json';

/** One input row, with the 1-based line where it starts in the file (as an editor counts lines). */
export interface InputRecord {
  line: number;
  values: Record<string, string>;
}

export interface OpenedInput {
  format: 'csv' | 'jsonl' | 'json';
  columns: string[];
  /** Streams the records; memory stays bounded whatever the file size. */
  records(): AsyncIterable<InputRecord>;
}
