import type { ItemCursor } from '../item-cursor.js';
import type { ItemStepRow } from '../rows.js';
import type { StepQueries } from '../step-queries.js';

/** What the output files (results, embeddings) are written from, a page at a time. */
export interface ResultsReadModel {
  /** Items in input order after `after`, at most `limit`, each with all its step rows (and with `values`, its input row). */
  itemsWithSteps(
    after: ItemCursor,
    limit: number,
    options?: { values?: boolean },
  ): { id: string; cursor: ItemCursor; steps: ItemStepRow[]; values?: Record<string, string> }[];
  readonly steps: Pick<StepQueries, 'doneResults' | 'finishedCount'>;
  /** Done steps with output files whose call was recorded between two times (ISO): what a machine crash may have lost. */
  doneOutputsBetween(sinceIso: string, untilIso: string): { itemId: string; step: string; outputs: string[] }[];
}
