import { ConfigError } from '../errors/config-error.js';
import type { DetectedEncoding } from './encoding.js';

/** File types people point input.file at by mistake, by their first bytes. */
const SIGNATURES: ReadonlyArray<{ bytes: readonly (number | undefined)[]; what: string; hint?: string }> = [
  {
    bytes: [0x50, 0x4b, 0x03, 0x04],
    what: 'a ZIP archive (an Excel .xlsx workbook?)',
    hint: 'Export the sheet as CSV (File > Save As > CSV UTF-8) and point input.file at that.',
  },
  {
    bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
    what: 'an old Office document (an Excel .xls workbook?)',
    hint: 'Export the sheet as CSV (File > Save As > CSV UTF-8) and point input.file at that.',
  },
  { bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], what: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], what: 'a JPEG image' },
  { bytes: [0x47, 0x49, 0x46, 0x38, undefined, 0x61], what: 'a GIF image' },
  // RIFF....WEBP: bytes 4-7 are the size.
  { bytes: [0x52, 0x49, 0x46, 0x46, undefined, undefined, undefined, undefined, 0x57, 0x45, 0x42, 0x50], what: 'a WebP image' },
  { bytes: [0x25, 0x50, 0x44, 0x46, 0x2d], what: 'a PDF document' },
  { bytes: [0x1f, 0x8b], what: 'a gzip archive', hint: 'Decompress it (gunzip) and point input.file at the file inside.' },
  {
    bytes: [0x42, 0x5a, 0x68, undefined, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59],
    what: 'a bzip2 archive',
    hint: 'Decompress it (bunzip2) and point input.file at the file inside.',
  },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'an xz archive', hint: 'Decompress it (unxz) and point input.file at the file inside.' },
  { bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], what: 'a 7-Zip archive', hint: 'Extract it and point input.file at the file inside.' },
  {
    bytes: [...Buffer.from('SQLite format 3\0')],
    what: 'a SQLite database (a genbatch state file?)',
    hint: 'Point input.file at the CSV, TSV, JSON Lines or JSON file the job reads, not at a state file.',
  },
  { bytes: [0x7f, 0x45, 0x4c, 0x46], what: 'a program (ELF executable)' },
];

const DEFAULT_HINT = 'Point input.file at the data file: delimited text (CSV, TSV...), JSON Lines, or a JSON array of objects.';

/** Bytes checked for control characters: enough to tell, few enough to be instant. */
const CHECKED_BYTES = 8 * 1024;
/** Control bytes (besides tab, line breaks, form feed and escape) past this share mean binary data. */
const MAX_CONTROL_SHARE = 0.02;

/**
 * Refuses a file that is not text before anything is read from it as rows: a PNG, a workbook or a
 * database given as input would otherwise be split into garbage "column names" and reported as a
 * missing id column. Known formats are named by their first bytes; anything else is binary when the
 * head holds a NUL byte or many control characters, which text in any 8-bit encoding does not
 * (UTF-16, whose ASCII holds a NUL every other byte, is detected before and exempt).
 */
export function refuseBinary(head: Uint8Array, file: string, encoding: DetectedEncoding): void {
  const known = SIGNATURES.find((s) => s.bytes.length <= head.length && s.bytes.every((b, i) => b === undefined || head[i] === b));
  if (known !== undefined) {
    throw new ConfigError(`${file}:1: the file is ${known.what}, not a text file (CSV, TSV, JSON Lines or JSON).`, {
      code: 'INPUT_NOT_TEXT',
      file,
      line: 1,
      hint: known.hint ?? DEFAULT_HINT,
    });
  }
  if (encoding.name.startsWith('utf-16')) return;
  const checked = head.subarray(encoding.bomBytes, encoding.bomBytes + CHECKED_BYTES);
  let line = 1;
  let controls = 0;
  let first: { offset: number; line: number; byte: number } | undefined;
  for (let i = 0; i < checked.length; i++) {
    const b = checked[i]!;
    if (b === 0x0a) {
      if (checked[i - 1] !== 0x0d) line++;
    } else if (b === 0x0d) line++;
    if (!isControl(b)) continue;
    controls++;
    // A NUL decides at once; other control characters only when there are many.
    if (b === 0 || first === undefined) first = { offset: encoding.bomBytes + i, line, byte: b };
    if (b === 0) break;
  }
  if (first === undefined || (first.byte !== 0 && controls <= Math.max(2, checked.length * MAX_CONTROL_SHARE))) return;
  const hex = `0x${first.byte.toString(16).toUpperCase().padStart(2, '0')}`;
  const why =
    first.byte === 0
      ? `a NUL byte (0x00) at byte offset ${first.offset}`
      : `${controls} control characters in its first ${checked.length.toLocaleString('en')} bytes (the first, ${hex}, at byte offset ${first.offset})`;
  throw new ConfigError(`${file}:${first.line}: the file is not text (CSV, TSV, JSON Lines or JSON): it holds ${why}, which text files never do.`, {
    code: 'INPUT_NOT_TEXT',
    file,
    line: first.line,
    hint: `${DEFAULT_HINT} If it is text saved as UTF-16 without a byte-order mark, set input.encoding: utf-16le (or utf-16be).`,
  });
}

/** C0 control characters that text does not contain: all but tab, LF, VT, FF, CR and ESC. */
function isControl(b: number): boolean {
  return b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0b && b !== 0x0c && b !== 0x0d && b !== 0x1b;
}
