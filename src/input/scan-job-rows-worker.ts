/** The worker thread of scanRowsForJob: one pass over the input; no answer when it stops early or fails. */
import { parentPort, workerData } from 'node:worker_threads';
import type { Job } from '../job/job.js';
import { scanJobRows } from './scan-job-rows.js';

const { job, shownInput } = workerData as { job: Job; shownInput: string };
try {
  const { stop, ...scan } = await scanJobRows(job, shownInput);
  parentPort?.postMessage(stop ? {} : { scan });
} catch {
  parentPort?.postMessage({});
}
