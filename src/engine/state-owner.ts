import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { StateFileError } from '../errors/state-file-error.js';
import type { Job } from '../job/job.js';
import { displayPath } from '../job/load-job.js';
import type { JobMeta } from '../store/interfaces/job-meta.js';
import { StateStore } from '../store/state-store.js';

/** The state's metadata key naming the job file it belongs to (its real path). */
const OWNER = 'job_file';

function realPath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

/**
 * The state file another job file uses, read without compiling it (it may be mid-edit): its `state:`,
 * else the default `.genbatch/<name>.db` beside it (as compile-job.ts resolves it). Undefined when it
 * cannot be read as a job file.
 */
function stateFileOf(jobFile: string): string | undefined {
  try {
    const raw = parse(readFileSync(jobFile, 'utf8')) as { name?: unknown; state?: unknown } | null;
    if (typeof raw?.state === 'string') return resolve(dirname(jobFile), raw.state);
    if (typeof raw?.name === 'string') return resolve(dirname(jobFile), `.genbatch/${raw.name}.db`);
  } catch {
    // Unreadable or not YAML: it cannot be the job this state belongs to now.
  }
  return undefined;
}

/**
 * Refuses a state file that belongs to another job file: two job files with the same `name:` in one
 * folder would otherwise share one state (each redoing or skipping the other's items). A state
 * belongs to the job file recorded in it while that file exists and still points at it; a job file
 * that was moved or renamed (its old path is gone, or now names another state) takes it over.
 */
export function checkStateOwner(store: Pick<JobMeta, 'getMeta'>, job: Job, options: { claim: false }): void;
export function checkStateOwner(store: JobMeta, job: Job, options: { claim: boolean }): void;
export function checkStateOwner(store: Pick<JobMeta, 'getMeta'>, job: Job, options: { claim: boolean }): void {
  const mine = realPath(job.file);
  const recorded = store.getMeta(OWNER);
  if (recorded !== undefined && recorded !== mine && existsSync(recorded)) {
    const theirs = stateFileOf(recorded);
    if (theirs !== undefined && realPath(theirs) === realPath(job.stateFile)) {
      throw new StateFileError(
        'other_job',
        job.stateFile,
        `${displayPath(job.file)} and ${displayPath(recorded)} both use the state file ${displayPath(job.stateFile)} (same name "${job.name}"): it belongs to ${displayPath(recorded)}. Nothing was sent.`,
        { hint: `Give ${displayPath(job.file)} a name of its own (name:) or a state file of its own (state:).` },
      );
    }
  }
  // Claiming is only offered (overloads) for a store that writes.
  if (options.claim && recorded !== mine) (store as JobMeta).setMeta(OWNER, mine);
}

/** Opens a job's state for a run: checks it (see StateStore.open) and that it is this job file's. */
export function openJobState(job: Job): StateStore {
  const store = StateStore.open(job.stateFile);
  try {
    checkStateOwner(store, job, { claim: true });
  } catch (error) {
    store.close();
    throw error;
  }
  return store;
}
