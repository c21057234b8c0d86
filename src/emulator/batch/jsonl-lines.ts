import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Blob } from '../storage/blob.js';

/**
 * The lines of a JSONL object, pulled one at a time: the next chunk is read only when the lines
 * before it are used up, so a 1 GB input is never held whole (unlike a buffering line reader).
 */
export async function* readLines(stream: Readable): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    rest += decoder.write(chunk);
    let start = 0;
    let newline = rest.indexOf('\n', start);
    while (newline >= 0) {
      yield rest.slice(start, newline > start && rest[newline - 1] === '\r' ? newline - 1 : newline);
      start = newline + 1;
      newline = rest.indexOf('\n', start);
    }
    rest = rest.slice(start);
  }
  rest += decoder.end();
  if (rest !== '') yield rest.endsWith('\r') ? rest.slice(0, -1) : rest;
}

export const isBlankLine = (line: string): boolean => line.trim() === '';

const counted = new WeakMap<Blob, number>();

/** Request lines (non-blank lines) of an object; counted once per stored blob. */
export async function countRequestLines(blob: Blob): Promise<number> {
  const known = counted.get(blob);
  if (known !== undefined) return known;
  let count = 0;
  for await (const line of readLines(blob.stream())) if (!isBlankLine(line)) count++;
  counted.set(blob, count);
  return count;
}
