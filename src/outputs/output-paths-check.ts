import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Job } from '../job/job.js';
import { displayPath } from '../job/load-job.js';

/** A place a run writes to that it could not write, found before the first call. */
export interface OutputPathProblem {
  /** The job file key that names it (`results`, `output_dir`, `steps.NAME.output.file`). */
  keyPath: string;
  path: string;
  /** What is wrong, as the end of a sentence ("is a folder, not a file"). */
  problem: string;
}

/** A path as it stands: a folder, a file (or anything that is not a folder), or nothing yet. */
function kindOf(path: string): 'folder' | 'file' | 'missing' {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) return 'missing';
  return stat.isDirectory() ? 'folder' : 'file';
}

/**
 * Whether a folder can be made or written at `folder`: the nearest part of it that exists must be
 * a folder, and writable (a read-only mount, or permissions, for a user other than root).
 */
function folderProblem(folder: string): string | undefined {
  let existing = folder;
  while (kindOf(existing) === 'missing') {
    const up = dirname(existing);
    if (up === existing) return undefined;
    existing = up;
  }
  if (kindOf(existing) === 'file') return existing === folder ? 'is a file, not a folder' : `cannot be made: ${displayPath(existing)} is a file`;
  try {
    accessSync(existing, constants.W_OK);
  } catch (error) {
    return `cannot be written (${displayPath(existing)}: ${(error as NodeJS.ErrnoException).code ?? 'not writable'})`;
  }
  return undefined;
}

/** A file a run writes whole (the results, an embedding step's file, a metrics file): not a folder, in a folder it can write. */
export function fileProblem(file: string): string | undefined {
  if (kindOf(file) === 'folder') return 'is a folder, not a file';
  const problem = folderProblem(dirname(file));
  return problem && `is in a folder that ${problem}`;
}

/**
 * Every place a run of `job` writes to, checked before anything is sent: the results file, the
 * output folder, and the fixed part of each step's output name (`notes/{{slug}}.txt` → `notes/`;
 * a name without `{{` is one file). Found only at the end, a folder where the results file should
 * be made a run pay for every call and then crash (EISDIR).
 */
export function outputPathProblems(job: Job): OutputPathProblem[] {
  const problems: OutputPathProblem[] = [];
  const check = (keyPath: string, path: string, problem: string | undefined): void => {
    if (problem !== undefined) problems.push({ keyPath, path, problem });
  };
  if (job.resultsFile !== undefined) check('results', job.resultsFile, fileProblem(job.resultsFile));
  const outputDirProblem = folderProblem(job.outputDir);
  check('output_dir', job.outputDir, outputDirProblem);
  if (outputDirProblem !== undefined) return problems;
  for (const step of job.steps) {
    if (!step.output) continue;
    for (const [key, template] of [
      ['file', step.output.file],
      ['npy', step.output.npy],
    ] as const) {
      if (template === undefined) continue;
      const keyPath = `steps.${step.name}.output.${key}`;
      const at = template.indexOf('{{');
      if (at < 0) {
        const file = resolve(job.outputDir, template);
        check(keyPath, file, fileProblem(file));
        continue;
      }
      const fixed = template.slice(0, at);
      const slash = fixed.lastIndexOf('/');
      if (slash < 0) continue;
      const folder = resolve(job.outputDir, fixed.slice(0, slash + 1));
      check(keyPath, folder, folderProblem(folder));
    }
  }
  return problems;
}
