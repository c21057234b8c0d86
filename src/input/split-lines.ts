import { MAX_RECORD_CHARS } from './csv-dialect.js';

export type TextLine = { line: number; text: string } | { line: number; tooLong: true };

/**
 * Splits streamed text into lines (CRLF, LF or CR), numbered as an editor does. A CR at the end of a
 * chunk is held back until the next chunk shows whether an LF follows. A line longer than
 * MAX_RECORD_CHARS ends the stream with `tooLong`, so memory stays bounded.
 */
export async function* splitLines(chunks: AsyncIterable<string>): AsyncGenerator<TextLine> {
  let pending = '';
  let line = 1;
  for await (const chunk of chunks) {
    let text = pending + chunk;
    let holdCr = false;
    if (text.endsWith('\r')) {
      text = text.slice(0, -1);
      holdCr = true;
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      yield { line, text: text.slice(start, i) };
      line++;
      if (c === 0x0d && text.charCodeAt(i + 1) === 0x0a) i++;
      start = i + 1;
    }
    pending = text.slice(start) + (holdCr ? '\r' : '');
    if (pending.length > MAX_RECORD_CHARS) {
      yield { line, tooLong: true };
      return;
    }
  }
  if (pending.endsWith('\r')) pending = pending.slice(0, -1);
  if (pending.length > 0) yield { line, text: pending };
}
