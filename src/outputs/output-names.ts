import { Buffer } from 'node:buffer';
import { relative, sep } from 'node:path';

/**
 * Checks of the output names an input renders, made on every row before any call: a name the file
 * system will refuse (too long) or that lands on another item's file (the same name once case and
 * Unicode normalisation are ignored) is only found when the paid reply is written otherwise.
 */

/** Longest name of one file or folder on ext4, APFS, NTFS, XFS and btrfs: 255 bytes (UTF-8). */
export const MAX_NAME_BYTES = 255;
/**
 * Bytes of a file name kept for the names genbatch derives from it: its temporary files
 * (`.NAME.pid.hex.tmp`) and the `-2` of a second candidate image.
 */
export const NAME_RESERVE_BYTES = 32;
/** Longest output file name accepted: the file system's limit less the reserve. */
export const MAX_FILE_NAME_BYTES = MAX_NAME_BYTES - NAME_RESERVE_BYTES;
/** Longest absolute path on Linux (PATH_MAX, 4096 with its NUL), less the reserve. */
export const MAX_PATH_BYTES = 4095 - NAME_RESERVE_BYTES;

/** A value shown in a message: a 5,000-character id is shown by its start and its length. */
export function shortValue(value: string, max = 60): string {
  const chars = [...value];
  return chars.length <= max ? value : `${chars.slice(0, max).join('')}… (${chars.length.toLocaleString('en')} characters)`;
}

/** The path of `target` (absolute, inside `outputDir`, as resolveOutputPath returns it) relative to `outputDir`. */
export function outputName(outputDir: string, target: string): string {
  // The slice is what relative() returns here, without its cost on every row of a million.
  return target.startsWith(outputDir) && target[outputDir.length] === sep ? target.slice(outputDir.length + 1) : relative(outputDir, target);
}

/**
 * Why an output path cannot be written, or undefined: a file or folder name over the byte limit, or
 * a path over PATH_MAX. `name` is the path relative to the output folder (outputName), `target` the
 * absolute one.
 */
export function nameLengthProblem(name: string, target: string): string | undefined {
  // Every character takes at least one byte: a short name needs no counting.
  if (name.length <= MAX_FILE_NAME_BYTES / 4 && target.length <= MAX_PATH_BYTES / 4) return undefined;
  const parts = name.split(sep);
  for (const [index, part] of parts.entries()) {
    const bytes = Buffer.byteLength(part, 'utf8');
    const last = index === parts.length - 1;
    const max = last ? MAX_FILE_NAME_BYTES : MAX_NAME_BYTES;
    if (bytes <= max) continue;
    const what = last ? 'file name' : 'folder name';
    const why = last
      ? `file systems allow ${MAX_NAME_BYTES} bytes per name and genbatch keeps ${NAME_RESERVE_BYTES} of them for the names it derives (temporary files, the -2 of a second image)`
      : `file systems allow ${MAX_NAME_BYTES} bytes per name`;
    return `the output ${what} "${shortValue(part)}" is ${bytes.toLocaleString('en')} bytes long (UTF-8); ${why}, so at most ${max} bytes`;
  }
  const bytes = Buffer.byteLength(target, 'utf8');
  if (bytes > MAX_PATH_BYTES)
    return `the output path is ${bytes.toLocaleString('en')} bytes long; paths may have at most ${MAX_PATH_BYTES.toLocaleString('en')} bytes`;
  return undefined;
}

/** Printable ASCII only (control characters are refused in output names before this is asked). */
const PLAIN_ASCII = /^[\x20-\x7e]*$/;

/**
 * The name as a case-insensitive, normalising file system sees it (macOS APFS and HFS+, Windows
 * NTFS, exFAT): Unicode NFC (so `café` typed as `e` + U+0301 is `café`), then each character's
 * simple case folding, approximated as the lower case of its upper case when that is one character
 * (`Σ`, `σ` and `ς` are one letter; `ß` stays `ß`, as these file systems keep it).
 */
export function foldName(name: string): string {
  const nfc = name.normalize('NFC');
  if (PLAIN_ASCII.test(nfc)) return nfc.toLowerCase();
  let folded = '';
  for (const ch of nfc) {
    const upper = ch.toUpperCase();
    folded += ([...upper].length === 1 ? upper : ch).toLowerCase();
  }
  return folded.normalize('NFC');
}

/** How two different names that fold alike differ, for the message. */
export function howTheyCollide(a: string, b: string): string {
  if (a === b) return 'the same file';
  if (a.normalize('NFC') === b.normalize('NFC')) {
    return 'the same file on file systems that normalise Unicode (macOS): they differ only in how accents are encoded (NFC and NFD)';
  }
  return 'the same file on case-insensitive file systems (macOS, Windows): they differ only in upper and lower case';
}
