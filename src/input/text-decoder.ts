/**
 * The one decoder of an input's bytes: detection (the head), inspect, the row scanner and its worker
 * threads all decode through here, so a header and the rows under it can never read differently.
 *
 * Why not TextDecoder alone: Node 20.19+ (and 22/23 before their fix) decode `windows-1252` (which is
 * also what `latin1` and `iso-8859-1` mean to TextDecoder) with a Latin-1 fast path when a call is not
 * streaming, so 0x80..0x9F became U+0080..U+009F: `Prix (€)` read as `Prix (\u0080)`. The streaming
 * path was right, which is why the rows (streamed) were right and the head (decoded at once) was not.
 * windows-1252 is a table, decoded here by that table whatever Node does.
 */
export interface InputTextDecoder {
  /** With `stream`, a multi-byte character cut at the end of `bytes` is kept for the next call. */
  decode(bytes?: Uint8Array, options?: { stream?: boolean }): string;
}

/** windows-1252's 0x80..0x9F (WHATWG Encoding Standard, index-windows-1252); the five unassigned bytes map to the same code point. */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d,
  0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
].map((code) => String.fromCharCode(code));

const C1 = /[\u0080-\u009f]/g;

/** A single-byte encoding holds no state between chunks: every byte is one character. */
const windows1252: InputTextDecoder = {
  decode(bytes) {
    if (bytes === undefined || bytes.length === 0) return '';
    const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
    return latin1.replace(C1, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]!);
  },
};

/** A decoder for `encoding` (a name as encodingName returns it); a byte-order mark is never skipped here (the caller skips its bytes). */
export function createTextDecoder(encoding: string): InputTextDecoder {
  if (encoding === 'windows-1252') return windows1252;
  const decoder = new TextDecoder(encoding, { ignoreBOM: true });
  return { decode: (bytes, options) => decoder.decode(bytes, options) };
}

/** Decodes a whole buffer (the head of a file) exactly as the streamed rows are decoded. */
export function decodeBytes(bytes: Uint8Array, encoding: string): string {
  return createTextDecoder(encoding).decode(bytes);
}
