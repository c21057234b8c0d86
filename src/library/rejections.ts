import { GenbatchError } from '../errors/genbatch-error.js';
import type { Job } from '../job/job.js';
import { ResponseCache } from '../cache/response-cache.js';
import type { ReviewMarks, ReviewReadModel } from '../store/interfaces/review-read-model.js';
import type { ItemStepRow } from '../store/rows.js';

/** Ids of items a reviewer rejected (`genbatch reject`), in input order: what `retry --rejected` redoes. */
export function rejectedItemIds(store: ReviewReadModel & ReviewMarks): string[] {
  return store.rejectedItemIds();
}

/** The steps a rejection covers: `fromStep` and every later one, or all steps. */
export function stepsFrom(job: Pick<Job, 'steps'>, fromStep?: string): string[] {
  const names = job.steps.map((s) => s.name);
  if (fromStep === undefined) return names;
  const from = names.indexOf(fromStep);
  if (from < 0) throw new GenbatchError(`--step ${fromStep}: the job has no such step (steps: ${names.join(', ')}).`, { code: 'USAGE', exitCode: 2 });
  return names.slice(from);
}

export interface RejectOutcome {
  items: number;
  steps: number;
  stepNames: string[];
}

/**
 * Marks the outputs of these items (from `step` on, default every step) as rejected. All or nothing:
 * an unknown id, or an item with no done output among those steps, is an error and nothing is marked.
 */
export function rejectItems(
  job: Pick<Job, 'steps'>,
  store: ReviewReadModel & ReviewMarks,
  ids: readonly string[],
  options: { note?: string; step?: string } = {},
): RejectOutcome {
  const unique = [...new Set(ids)];
  if (unique.length === 0) throw new GenbatchError('Say which items to reject: genbatch reject JOB ID...', { code: 'USAGE', exitCode: 2 });
  const stepNames = stepsFrom(job, options.step);
  const unknown = unique.filter((id) => !store.getItem(id));
  if (unknown.length > 0) {
    throw new GenbatchError(`No such item(s): ${unknown.join(', ')}.`, {
      code: 'USAGE',
      exitCode: 2,
      hint: 'Ids are the values of the job’s input.id column; `genbatch review JOB` lists them all.',
    });
  }
  const nothingDone = unique.filter((id) => !store.itemSteps(id).some((row) => stepNames.includes(row.step) && row.state === 'done'));
  if (nothingDone.length > 0) {
    throw new GenbatchError(`Nothing to reject for ${nothingDone.join(', ')}: no done output${options.step ? ` from step ${options.step} on` : ''}.`, {
      code: 'NOTHING_TO_REJECT',
      exitCode: 2,
      hint: 'Only done outputs can be rejected; failed items are retried with `genbatch retry JOB --failed`.',
    });
  }
  const note = options.note?.trim() ? options.note.trim() : null;
  const steps = store.rejectSteps(unique, stepNames, note);
  forgetRejectedAnswers(unique.flatMap((id) => store.itemSteps(id).filter((row) => stepNames.includes(row.step) && row.state === 'done')));
  return { items: unique.length, steps, stepNames };
}

/**
 * A rejected answer is never served again, to this job or any other: it leaves the response cache
 * now (a redo gets a new answer from a call, which then takes its place).
 */
function forgetRejectedAnswers(rows: readonly ItemStepRow[]): void {
  const keys = rows.flatMap((row) => (row.cacheKey ? [row.cacheKey] : []));
  if (keys.length === 0) return;
  const cache = ResponseCache.open();
  try {
    for (const key of keys) cache.forget(key);
  } finally {
    cache.close();
  }
}
