import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { stampFileOf } from './state-files.js';

/**
 * The state file as genbatch last left it sound: inode, size and modification time (in
 * nanoseconds) of the file and of its -wal. A file whose stamp is unchanged has not been touched
 * since (no crash, copy, truncation or other program), so its integrity check can be skipped.
 */
function stampOf(file: string): string | undefined {
  const main = statSync(file, { bigint: true, throwIfNoEntry: false });
  if (!main) return undefined;
  const wal = statSync(`${file}-wal`, { bigint: true, throwIfNoEntry: false });
  // An empty -wal holds nothing: whether it exists (a reader may create it) does not matter.
  const walPart = wal && wal.size > 0n ? `${wal.size}:${wal.mtimeNs}` : '-';
  return `${main.ino}:${main.size}:${main.mtimeNs}|${walPart}`;
}

export function isKnownSound(file: string): boolean {
  const now = stampOf(file);
  if (now === undefined) return false;
  try {
    return readFileSync(stampFileOf(file), 'utf8') === now;
  } catch {
    return false;
  }
}

/** Records that the file, as it is now, is sound (after a clean close, or a passed check). Best effort. */
export function recordSound(file: string): void {
  const now = stampOf(file);
  if (now === undefined) return;
  try {
    writeFileSync(stampFileOf(file), now);
  } catch {
    // A read-only folder: the next open checks the file again, nothing worse.
  }
}
