/**
 * The files genbatch keeps beside a state file (besides SQLite's own -wal and -shm):
 *
 * - `<state>.bak`: the rolling backup, taken at the start of each run that has work to do;
 * - `<state>.checked`: the size and times of the state file when genbatch last left it sound, so
 *   the next open can skip the integrity check of a file nothing touched since;
 * - `<state>.damaged-<time>`: a damaged state file moved aside by `run --fresh-state`;
 * - `<state>.replaced/`: copies of the outputs a regenerate replaced, until the reviewer keeps the new or the old.
 */
export function backupFileOf(stateFile: string): string {
  return `${stateFile}.bak`;
}

export function stampFileOf(stateFile: string): string {
  return `${stateFile}.checked`;
}

export function setAsideFileOf(stateFile: string, at: Date): string {
  return `${stateFile}.damaged-${at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}`;
}

export function replacedFolderOf(stateFile: string): string {
  return `${stateFile}.replaced`;
}
