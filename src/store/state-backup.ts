import { renameSync } from 'node:fs';
import { displayPath } from '../job/load-job.js';
import { removeTemp, tempPathFor } from '../files/temp-path.js';
import { backupFileOf } from './state-files.js';
import type { StateStore } from './state-store.js';

/**
 * Pages copied per turn of the event loop (about 0.4 MB with 4 KB pages). Measured on the 600 MB
 * state of a million-item job: the whole copy takes about 1.1 s on an idle machine, and no turn
 * holds the event loop for more than ~7 ms, so the calls of the run go on meanwhile.
 */
const PAGES_PER_STEP = 100;

/**
 * The rolling backup of a state file, `<state>.bak`: taken with SQLite's online backup API through
 * the run's own connection (so the run's writes meanwhile are copied too, and the copy is never
 * restarted), into a temp file beside it that is renamed into place once complete. It starts in the
 * background once the run's first call is on its way, so that call is never held up by it; a run
 * that makes no call changes nothing worth a copy and takes none.
 */
export class StateBackup {
  #copy: Promise<void> | undefined;

  constructor(private readonly store: StateStore) {}

  /** Starts the copy (once per run). */
  start(): void {
    if (this.#copy || !this.store.isOpen) return;
    const target = backupFileOf(this.store.file);
    const temp = tempPathFor(target);
    this.#copy = this.store
      .backupTo(temp, () => PAGES_PER_STEP)
      .then(
        () => renameSync(temp, target),
        (error: unknown) => {
          removeTemp(temp);
          throw error;
        },
      );
    // Awaited by finish(); until then a failure is not "unhandled".
    this.#copy.catch(() => undefined);
  }

  /** Waits for the copy to be in place; returns a warning when it failed (the run is not affected, the previous backup is kept). */
  async finish(): Promise<string | undefined> {
    try {
      await this.#copy;
      return undefined;
    } catch (error) {
      return `Could not back up the state file to ${displayPath(backupFileOf(this.store.file))} (${(error as Error).message}); the previous backup is kept.`;
    }
  }
}
