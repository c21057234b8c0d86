import { createHash } from 'node:crypto';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Job } from '../job/job.js';

/**
 * The files of outputs that failed their checks and were regenerated (issue 28): moved aside before
 * the next attempt writes the same paths, to `<state file>.checks/<folder per item and step>/<attempt>/<output path>`,
 * so the review page can show before and after. check_attempts.outputs_json holds these paths
 * relative to checkAttemptsRoot(job).
 */
export function checkAttemptsRoot(job: Pick<Job, 'stateFile'>): string {
  return `${job.stateFile}.checks`;
}

/** A folder name per item and step (ids may hold any character). */
function folderOf(itemId: string, step: string): string {
  return createHash('sha256').update(`${itemId}\u0000${step}`).digest('hex').slice(0, 16);
}

/** Moves a replaced output's files aside; returns where they went (relative to checkAttemptsRoot). A file that cannot be moved is left out. */
export async function keepReplacedOutputs(job: Job, itemId: string, step: string, attempt: number, outputs: readonly string[]): Promise<string[]> {
  const kept: string[] = [];
  for (const output of outputs) {
    const path = join(folderOf(itemId, step), String(attempt), output);
    const target = resolve(checkAttemptsRoot(job), path);
    const source = resolve(job.outputDir, output);
    try {
      await mkdir(dirname(target), { recursive: true });
      await rename(source, target).catch(async () => {
        // Another file system (the state file elsewhere): copied, then removed.
        await copyFile(source, target);
        await rm(source, { force: true });
      });
      kept.push(path);
    } catch {
      // The replaced output is gone or unreadable: the next attempt goes on without its copy.
    }
  }
  return kept;
}
