import { existsSync } from 'node:fs';
import { estimateJob as estimatePrepared, type JobEstimate } from '../engine/estimate-job.js';
import { bestTokenCounter } from '../estimate/token-counter.js';
import { openStateToRead } from '../store/open-state.js';
import { loadJob, type LoadedJob } from './load-job.js';

export interface EstimateJobOptions {
  /** Only the next N items with work left (as `run --limit N`). */
  limit?: number;
  /** The credentials are emulated (with a job file path): keys are not read. */
  emulator?: boolean;
}

/**
 * What the rest of a job will cost and take, as `genbatch estimate --json` prints it. Nothing is
 * sent: tokens are counted locally, and a previous run's measurements are used when there is one.
 */
export async function estimateJob(job: string | LoadedJob, options: EstimateJobOptions = {}): Promise<JobEstimate> {
  const prepared = typeof job === 'string' ? await loadJob(job, { emulator: options.emulator ?? false }) : job;
  const counter = await bestTokenCounter();
  const store = existsSync(prepared.job.stateFile) ? openStateToRead(prepared.job.stateFile) : undefined;
  try {
    return await estimatePrepared(prepared, {
      ...(store ? { store } : {}),
      counter,
      catalog: prepared.catalog,
      credentials: prepared.credentials,
      ...(options.limit === undefined ? {} : { limit: options.limit }),
    });
  } finally {
    store?.close();
  }
}
