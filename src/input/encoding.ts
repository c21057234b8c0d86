import { ConfigError } from '../errors/config-error.js';

export interface DetectedEncoding {
  /** WHATWG label as TextDecoder reports it: `utf-8`, `utf-16le`, `utf-16be`, `windows-1252`... */
  name: string;
  bom: boolean;
  /** Bytes of byte-order mark to skip before decoding. */
  bomBytes: number;
  /** Only UTF-8 is validated: a forced single-byte encoding accepts every byte by definition. */
  validate: boolean;
}

const BOMS: ReadonlyArray<{ name: string; bytes: readonly number[] }> = [
  { name: 'utf-8', bytes: [0xef, 0xbb, 0xbf] },
  { name: 'utf-16le', bytes: [0xff, 0xfe] },
  { name: 'utf-16be', bytes: [0xfe, 0xff] },
];

function startsWith(head: Uint8Array, bytes: readonly number[]): boolean {
  return bytes.length <= head.length && bytes.every((b, i) => head[i] === b);
}

/** Normalises a person's encoding label (`latin1`, `UTF8`, `cp1252`) to the decoder's name, or explains it. */
export function encodingName(label: string, file: string): string {
  const aliases: Record<string, string> = { utf8: 'utf-8', cp1252: 'windows-1252', utf16: 'utf-16le', 'utf-16': 'utf-16le' };
  const wanted = aliases[label.trim().toLowerCase()] ?? label.trim();
  try {
    return new TextDecoder(wanted).encoding;
  } catch (cause) {
    throw new ConfigError(`input.encoding "${label}", set for ${file}, is not an encoding this Node.js can decode.`, {
      code: 'INPUT_ENCODING_UNKNOWN',
      file,
      keyPath: 'input.encoding',
      cause,
      hint: 'Use one of utf-8, utf-16le, utf-16be, windows-1252 (latin1) or iso-8859-2..16, or remove `encoding` to detect it.',
    });
  }
}

/**
 * Reads the encoding from the first bytes: a byte-order mark decides; without one, a file whose
 * every other byte is NUL is UTF-16 (common from Windows tools that drop the BOM); anything else is
 * read as UTF-8 and validated byte by byte while streaming. Files that are not text at all (a
 * workbook, an image) are refused by refuseBinary (binary-file.ts).
 */
export function detectEncoding(head: Uint8Array, file: string, forced?: string): DetectedEncoding {
  const bom = BOMS.find((b) => startsWith(head, b.bytes));
  if (forced !== undefined) {
    const name = encodingName(forced, file);
    // A BOM is only skipped when it belongs to the forced encoding; otherwise its bytes are data.
    const skip = bom !== undefined && bom.name === name;
    return { name, bom: skip, bomBytes: skip ? bom.bytes.length : 0, validate: name === 'utf-8' };
  }
  if (bom !== undefined) return { name: bom.name, bom: true, bomBytes: bom.bytes.length, validate: bom.name === 'utf-8' };
  const utf16 = utf16WithoutBom(head);
  if (utf16 !== undefined) return { name: utf16, bom: false, bomBytes: 0, validate: false };
  return { name: 'utf-8', bom: false, bomBytes: 0, validate: true };
}

function utf16WithoutBom(head: Uint8Array): string | undefined {
  const pairs = Math.floor(Math.min(head.length, 4096) / 2);
  if (pairs < 2) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i < pairs; i++) {
    if (head[2 * i] === 0) evenZeros++;
    if (head[2 * i + 1] === 0) oddZeros++;
  }
  // ASCII text in UTF-16 has a NUL in almost every pair, always on the same side.
  if (oddZeros > pairs * 0.6 && evenZeros < pairs * 0.05) return 'utf-16le';
  if (evenZeros > pairs * 0.6 && oddZeros < pairs * 0.05) return 'utf-16be';
  return undefined;
}
