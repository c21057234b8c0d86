import { ConfigError } from './config-error.js';

/**
 * Why a state file is refused. `damaged`, `empty` and `truncated` can be fixed by restoring the backup or
 * starting over with `--fresh-state`; the others need something else (permissions, another `state:`).
 */
export type StateFileProblem = 'empty' | 'not_sqlite' | 'truncated' | 'damaged' | 'foreign' | 'read_only' | 'unreadable' | 'other_job';

/** Problems that `genbatch run JOB --fresh-state` may set aside (the file is genbatch's and unusable). */
export const SET_ASIDE_PROBLEMS: readonly StateFileProblem[] = ['empty', 'not_sqlite', 'truncated', 'damaged'];

/**
 * A state file genbatch will not use as it is: damaged, not a state file, read-only, or the state of
 * another job file. Refused before anything is sent (exit 2), naming the file and what to do.
 */
export class StateFileError extends ConfigError {
  constructor(
    readonly problem: StateFileProblem,
    file: string,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, { code: `STATE_${problem.toUpperCase()}`, file, keyPath: 'state', ...options });
  }

  /** Whether moving the file aside and starting over is the remedy (`--fresh-state`). */
  get canSetAside(): boolean {
    return SET_ASIDE_PROBLEMS.includes(this.problem);
  }
}
