import { dirname, join } from 'node:path';
import type { Job } from '../job/job.js';

/**
 * The job's scratch folder, beside the state file: the record of the folders its runs write into
 * (see OutputFolders). Temp files themselves live beside their targets (see AtomicWriter).
 */
export function scratchDirFor(job: Job): string {
  return join(dirname(job.stateFile), `${job.name}.tmp`);
}

/** Paid replies whose outputs could not be written (the disk was full), kept for the next run (see HeldReplies). */
export function heldRepliesDirFor(job: Job): string {
  return join(dirname(job.stateFile), `${job.name}.held`);
}
