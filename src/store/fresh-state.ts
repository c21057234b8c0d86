import { existsSync, renameSync } from 'node:fs';
import { StateFileError } from '../errors/state-file-error.js';
import { setAsideFileOf } from './state-files.js';
import { StateStore } from './state-store.js';

/** What `--fresh-state` did: moved a damaged file aside, or left a sound one (or none) as it is. */
export type FreshState = { movedTo: string } | { kept: 'sound' | 'missing' };

/**
 * `genbatch run JOB --fresh-state`: moves a damaged state file (with its -wal and -shm) aside, never
 * deleting it, so the run starts over. A sound file is left alone and resumed: starting over
 * re-bills every item, which is never done to a file that can be resumed (and `run DIR
 * --fresh-state` must not restart the healthy jobs of the folder). A file that is not genbatch's,
 * or cannot be written, is refused as it would be without the flag.
 */
export function setDamagedStateAside(file: string, at = new Date()): FreshState {
  if (!existsSync(file) && !existsSync(`${file}-wal`)) return { kept: 'missing' };
  try {
    StateStore.open(file, { readonly: true }).close();
  } catch (error) {
    if (!(error instanceof StateFileError) || !error.canSetAside) throw error;
    const aside = setAsideFileOf(file, at);
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(`${file}${suffix}`)) renameSync(`${file}${suffix}`, `${aside}${suffix}`);
    return { movedTo: aside };
  }
  return { kept: 'sound' };
}
