import type { BatchJobQueries } from '../batch-job-queries.js';
import type { LedgerQueries } from '../ledger-queries.js';
import type { RunRow } from '../rows.js';
import type { StepQueries } from '../step-queries.js';

/** What `genbatch status` (and the metrics and notifications built like it) reads. */
export interface StatusReadModel {
  readonly file: string;
  readonly isOpen: boolean;
  itemCount(): number;
  lastRun(): RunRow | undefined;
  getRun(id: string): RunRow | undefined;
  readonly steps: Pick<
    StepQueries,
    'countsByStepAndState' | 'itemStateCounts' | 'failures' | 'finishReasons' | 'doneByModel' | 'checkCounts' | 'checkOutcomes'
  >;
  readonly ledger: Pick<LedgerQueries, 'totals' | 'byProject' | 'requestsByStatus'>;
  readonly batches: Pick<BatchJobQueries, 'recent'>;
}
