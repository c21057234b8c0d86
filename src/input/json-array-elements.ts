import { MAX_RECORD_CHARS } from './csv-dialect.js';

/**
 * An element's source text, or the point where the array cannot be split further; `row` says whether
 * that point is an element (a cut or unseparated one) rather than punctuation between elements.
 */
export type ArrayElement = { line: number; text: string } | { line: number; failure: string; row: boolean; tooLong?: true; cut?: true };

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Streams the top-level elements of a JSON array (`[{...}, {...}]`) as their source text, with the
 * line each starts on. A JSON array is streamed rather than read whole so that a large export keeps
 * memory bounded like every other format: this small scanner only tracks nesting depth and strings
 * to find where each element ends, and JSON.parse does the real parsing of each element. A
 * structural error (no `[`, a missing comma, text after `]`) ends the stream with a failure.
 */
export async function* jsonArrayElements(chunks: AsyncIterable<string>): AsyncGenerator<ArrayElement> {
  type Phase = 'start' | 'value' | 'element' | 'after' | 'end';
  let phase = 'start' as Phase;
  let line = 1;
  let previousCr = false;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let primitive = false;
  let parts: string[] = [];
  let size = 0;
  let elementLine = 1;
  let sawComma = false;

  for await (const chunk of chunks) {
    let elementStart = phase === 'element' ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      const lineOfChar = line;
      if (c === 0x0a) {
        if (!previousCr) line++;
        previousCr = false;
      } else if (c === 0x0d) {
        line++;
        previousCr = true;
      } else {
        previousCr = false;
      }

      if (phase === 'element') {
        if (primitive) {
          // A number, true, false or null ends at the first character that cannot be part of it.
          if (WS.has(c) || c === 0x2c || c === 0x5d) {
            yield finish(chunk.slice(elementStart, i));
            phase = c === 0x2c ? 'value' : c === 0x5d ? 'end' : 'after';
            sawComma = c === 0x2c;
          }
          continue;
        }
        if (inString) {
          if (escaped) escaped = false;
          else if (c === 0x5c) escaped = true;
          else if (c === 0x22) {
            inString = false;
            if (depth === 0) {
              yield finish(chunk.slice(elementStart, i + 1));
              phase = 'after';
            }
          }
          continue;
        }
        if (c === 0x22) inString = true;
        else if (c === 0x7b || c === 0x5b) depth++;
        else if (c === 0x7d || c === 0x5d) {
          depth--;
          if (depth === 0) {
            yield finish(chunk.slice(elementStart, i + 1));
            phase = 'after';
          }
        }
        continue;
      }

      if (WS.has(c)) continue;
      if (phase === 'start') {
        if (c !== 0x5b) {
          yield { line: lineOfChar, failure: `expected "[" to open the array, found "${chunk[i]}".`, row: false };
          return;
        }
        phase = 'value';
        sawComma = false;
      } else if (phase === 'value') {
        if (c === 0x5d && !sawComma) {
          phase = 'end';
          continue;
        }
        if (c === 0x2c || c === 0x5d) {
          yield { line: lineOfChar, failure: `expected an element, found "${chunk[i]}".`, row: false };
          return;
        }
        phase = 'element';
        elementStart = i;
        elementLine = lineOfChar;
        parts = [];
        size = 0;
        depth = 0;
        inString = false;
        escaped = false;
        primitive = false;
        if (c === 0x22) inString = true;
        else if (c === 0x7b || c === 0x5b) depth = 1;
        else primitive = true;
      } else if (phase === 'after') {
        if (c === 0x2c) {
          phase = 'value';
          sawComma = true;
        } else if (c === 0x5d) phase = 'end';
        else {
          yield { line: lineOfChar, failure: `expected "," or "]" after the element, found "${chunk[i]}".`, row: true };
          return;
        }
      } else {
        yield { line: lineOfChar, failure: `unexpected text after the closing "]": "${chunk[i]}".`, row: false };
        return;
      }
    }
    if (phase === 'element') {
      const piece = chunk.slice(elementStart);
      parts.push(piece);
      size += piece.length;
      if (size > MAX_RECORD_CHARS) {
        yield {
          line: elementLine,
          failure: `the element is longer than ${MAX_RECORD_CHARS.toLocaleString('en')} characters; reading stops here.`,
          row: true,
          tooLong: true,
        };
        return;
      }
    }
  }
  if (phase === 'element' && primitive) {
    yield finish('');
    phase = 'after';
  }
  if (phase !== 'end') {
    const what = phase === 'start' ? 'the file holds no JSON array' : 'the array is not closed with "]"';
    yield { line, failure: `${what}: the file ends too early.`, row: phase === 'element', cut: true };
  }

  function finish(tail: string): ArrayElement {
    const text = parts.join('') + tail;
    parts = [];
    size = 0;
    return { line: elementLine, text };
  }
}
