import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/*
 * How genbatch names its temp files, beside the file they will replace (outputs, the cache's blobs, a
 * repaired input, the state backup): src/outputs/atomic-write.ts writes through them and clears what a
 * killed run left.
 */

/**
 * genbatch's temp files, and SQLite's journal of one (the state backup). The pid is optional:
 * versions before it named cross-file-system copies `.<name>.<8 hex>.tmp`.
 */
export const TEMP_NAME = /^\..+?\.(?:(\d+)\.)?[0-9a-f]{8}\.tmp(?:-journal)?$/;
/** Longest part of the target's name kept in a temp name (file names are at most 255 bytes). */
const NAME_BYTES = 200;

/** Numbers this process's temp files (from a random start: a recycled pid does not meet its old names). */
let tempCounter = randomBytes(4).readUInt32BE(0);

/** Whether `text` takes more than `max` bytes in UTF-8 (at most 3 per UTF-16 unit: only long text is measured). */
export function utf8Exceeds(text: string, max: number): boolean {
  return text.length * 3 > max && Buffer.byteLength(text) > max;
}

/** A temp path beside `target`, unique to this process and call. */
export function tempPathFor(target: string): string {
  let name = basename(target);
  while (utf8Exceeds(name, NAME_BYTES)) name = name.slice(0, -1);
  tempCounter = (tempCounter + 1) >>> 0;
  return join(dirname(target), `.${name}.${process.pid}.${tempCounter.toString(16).padStart(8, '0')}.tmp`);
}

/** Removes a temp file made by tempPathFor that its writer gave up on (and SQLite's journal of it). */
export function removeTemp(temp: string): void {
  for (const file of [temp, `${temp}-journal`]) rmSync(file, { force: true });
}
