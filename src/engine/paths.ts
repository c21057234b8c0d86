import { dirname, join } from 'node:path';
import type { Job } from '../job/job.js';

/** Scratch folder for temp files, beside the state file and never among the outputs. */
export function scratchDirFor(job: Job): string {
  return join(dirname(job.stateFile), `${job.name}.tmp`);
}
