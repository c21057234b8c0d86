import { createReadStream } from 'node:fs';
import { ConfigError } from '../errors/config-error.js';
import type { DetectedEncoding } from './encoding.js';
import { createTextDecoder } from './text-decoder.js';
import { Utf8Validator, type BadByte } from './utf8-validator.js';

/** Size of each read from disk; the only file data held at a time besides the current row. */
export const READ_CHUNK_BYTES = 64 * 1024;

/** The error for the first byte that is not UTF-8, with its line and offset. */
export function invalidUtf8(file: string, bad: BadByte): ConfigError {
  const hex = `0x${bad.byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return new ConfigError(
    `${file}:${bad.line}: the file is not valid UTF-8: byte ${hex} at byte offset ${bad.offset} (line ${bad.line}) does not start a UTF-8 character.`,
    {
      code: 'INPUT_NOT_UTF8',
      file,
      line: bad.line,
      hint: 'Re-save the file as UTF-8, or set input.encoding to the encoding it was written in (often windows-1252 or latin1 for exports from Excel on Windows); inspect and repair take it as --encoding.',
    },
  );
}

/**
 * Streams the file as text: skips the byte-order mark, validates UTF-8 (with the line of the first
 * bad byte) and decodes in chunks, so a multi-byte character split between two reads is kept whole.
 */
export async function* decodeFile(file: string, encoding: DetectedEncoding): AsyncGenerator<string> {
  const decoder = createTextDecoder(encoding.name);
  const validator = encoding.validate ? new Utf8Validator() : undefined;
  let bomToSkip = encoding.bomBytes;
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
    const bad = validator?.push(chunk);
    if (bad !== undefined) throw invalidUtf8(file, bad);
    let bytes: Uint8Array = chunk;
    if (bomToSkip > 0) {
      const skip = Math.min(bomToSkip, bytes.length);
      bytes = bytes.subarray(skip);
      bomToSkip -= skip;
    }
    const text = decoder.decode(bytes, { stream: true });
    if (text.length > 0) yield text;
  }
  const bad = validator?.end();
  if (bad !== undefined) throw invalidUtf8(file, bad);
  const rest = decoder.decode();
  if (rest.length > 0) yield rest;
}
