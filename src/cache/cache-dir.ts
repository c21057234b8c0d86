import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** The SQLite file of the cache, in the cache folder; media bytes are files under `blobs/`. */
export const CACHE_FILE = 'responses.db';
export const BLOBS_DIR = 'blobs';

/**
 * The per-user folder of the response cache, shared by every job of the user: GENBATCH_CACHE_DIR,
 * else $XDG_CACHE_HOME/genbatch, else ~/.cache/genbatch. A cache folder holds only what can be
 * thrown away (every entry can be paid for again), hence the XDG cache folder, not the state one.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.GENBATCH_CACHE_DIR;
  if (explicit !== undefined && explicit !== '') return resolve(explicit);
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'genbatch');
}
