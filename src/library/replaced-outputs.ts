import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Job } from '../job/job.js';
import type { ReviewMarks, ReviewReadModel } from '../store/interfaces/review-read-model.js';
import type { ReplacedOutput } from '../store/rows.js';
import { replacedFolderOf } from '../store/state-files.js';

/**
 * Before and after a regenerate: the outputs `retry --rejected` is about to redo are copied aside
 * (`<state file>.replaced/<folder per item and step>/<output path>`) and their result kept in the
 * state (replaced_outputs), until the reviewer keeps the new output (the copies go) or the old one
 * (copied back, result restored). Both choices stay recorded in the state file.
 */

export type ReplacedOutputsStore = ReviewReadModel & ReviewMarks;

/** The folder that holds the copies of a job's replaced outputs. */
export function replacedRoot(job: Pick<Job, 'stateFile'>): string {
  return replacedFolderOf(job.stateFile);
}

/** A folder name per item and step (ids may hold any character). */
function keptDirName(itemId: string, step: string): string {
  return createHash('sha256').update(`${itemId}\u0000${step}`).digest('hex').slice(0, 16);
}

/** `path` under `root`, or undefined when it would leave it. */
function inside(root: string, path: string): string | undefined {
  const absolute = resolve(root, path);
  const rel = relative(root, absolute);
  return rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? undefined : absolute;
}

/** Where the copy of a replaced output is, when it is there. */
export function replacedFile(job: Pick<Job, 'stateFile'>, replaced: ReplacedOutput, path: string): string | undefined {
  if (!replaced.keptDir || !replaced.outputs.includes(path)) return undefined;
  const file = inside(join(replacedRoot(job), replaced.keptDir), path);
  return file && existsSync(file) ? file : undefined;
}

/**
 * `retry --rejected` that keeps what it replaces: copies the outputs of the done steps it redoes
 * aside, then puts the steps back to pending with their kept rows, in one transaction. Returns the steps reset.
 */
export function regenerateRejected(job: Pick<Job, 'steps' | 'stateFile' | 'outputDir'>, store: ReplacedOutputsStore): number {
  const order = job.steps.map((s) => s.name);
  const kept: { itemId: string; step: string; keptDir: string }[] = [];
  for (const row of store.doneStepsToRedo(order)) {
    const keptDir = keptDirName(row.itemId, row.step);
    const dir = join(replacedRoot(job), keptDir);
    rmSync(dir, { recursive: true, force: true });
    for (const path of row.outputs) {
      const from = inside(job.outputDir, path);
      const to = inside(dir, path);
      if (!from || !to || !existsSync(from)) continue;
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(from, to);
    }
    kept.push({ itemId: row.itemId, step: row.step, keptDir });
  }
  return store.retryRejected(order, kept);
}

/**
 * The reviewer's choice between an item's replaced outputs and the regenerated ones: `new` keeps the
 * regenerated outputs, `old` copies the replaced files back over them and restores the steps' results.
 * Recorded in the state either way; the copies are removed. Returns the steps decided (none when
 * the item had nothing to choose between).
 */
export function decideRegenerated(job: Pick<Job, 'stateFile' | 'outputDir'>, store: ReplacedOutputsStore, itemId: string, decision: 'new' | 'old'): number {
  const undecided = store.replacedOfItem(itemId).filter((r) => r.decision === null);
  if (decision === 'old') {
    // Files first: a crash between leaves the state saying "new" over the old files, which the next choice fixes.
    for (const replaced of undecided) {
      for (const path of replaced.outputs) {
        const from = replacedFile(job, replaced, path);
        const to = inside(job.outputDir, path);
        if (!from || !to) continue;
        mkdirSync(dirname(to), { recursive: true });
        copyFileSync(from, to);
      }
    }
  }
  const decided = store.decideReplaced(itemId, decision);
  for (const replaced of decided) if (replaced.keptDir) rmSync(join(replacedRoot(job), replaced.keptDir), { recursive: true, force: true });
  return decided.length;
}
