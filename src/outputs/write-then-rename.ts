import { renameSync, rmSync, writeFileSync } from 'node:fs';

/**
 * A small file written whole to its temp name and renamed into place, with synchronous calls; the
 * temp file is removed on failure.
 * Returns how long it took, in milliseconds, for SyncWritePolicy.
 */
export function writeThenRename(temp: string, target: string, data: string | Uint8Array): number {
  const started = performance.now();
  try {
    writeFileSync(temp, data, { flag: 'wx' });
    renameSync(temp, target);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  return performance.now() - started;
}
