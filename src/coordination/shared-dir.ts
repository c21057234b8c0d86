import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** The shared file's name in the shared folder. */
export const SHARED_FILE = 'coordination.db';
/** What this host booked in shared budgets kept in Redis (SpendJournal). */
export const SPEND_JOURNAL_FILE = 'spend-journal.db';

/**
 * The per-user folder where every genbatch process of this host meets: GENBATCH_SHARED_DIR, else
 * $XDG_STATE_HOME/genbatch, else ~/.local/state/genbatch. Runs that should not share (tests, or
 * two users) use different folders.
 */
export function sharedDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.GENBATCH_SHARED_DIR;
  if (explicit !== undefined && explicit !== '') return resolve(explicit);
  const xdg = env.XDG_STATE_HOME;
  return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'state'), 'genbatch');
}

export function sharedFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(sharedDir(env), SHARED_FILE);
}
