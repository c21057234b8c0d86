import type { CostReadModel } from './interfaces/cost-read-model.js';
import type { ItemSync } from './interfaces/item-sync.js';
import type { JobMeta } from './interfaces/job-meta.js';
import type { ResultsReadModel } from './interfaces/results-read-model.js';
import type { ReviewMarks, ReviewReadModel } from './interfaces/review-read-model.js';
import type { StatusReadModel } from './interfaces/status-read-model.js';
import type { WorkItems } from './interfaces/work-items.js';
import { StateStore } from './state-store.js';

/** A state file opened only to read: its read models (status, cost, review, results), nothing that writes. */
export type ReadOnlyState = StatusReadModel &
  CostReadModel &
  ReviewReadModel &
  ResultsReadModel &
  WorkItems &
  Pick<JobMeta, 'getMeta' | 'schemaVersion'> &
  Pick<ItemSync, 'staleCandidates' | 'itemBases'> & { close(): void };

/**
 * Opens a state file to read (`status`, `cost`, estimates, previews) without migrating it; a
 * damaged or foreign file is refused as StateStore.open refuses it.
 */
export function openStateToRead(file: string): ReadOnlyState {
  return StateStore.open(file, { readonly: true });
}

/** A state file opened for a reviewer: what the review reads, and its marks (reject, retry). */
export type ReviewState = ReviewReadModel & ReviewMarks & StatusReadModel & Pick<ItemSync, 'resetSteps'> & { close(): void };

/** Opens a state file for `review`, `reject` and `retry` (migrated like a run's, so marks can be written). */
export function openStateToReview(file: string): ReviewState {
  return StateStore.open(file);
}
