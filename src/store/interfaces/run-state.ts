import type { ContextCacheQueries } from '../context-cache-queries.js';
import type { StepQueries } from '../step-queries.js';
import type { BatchCheckpoints } from './checkpoints.js';
import type { Ledger } from './ledger.js';
import type { ProjectHealth } from './project-health.js';
import type { ResultsReadModel } from './results-read-model.js';
import type { RunLocks } from './run-locks.js';
import type { StatusReadModel } from './status-read-model.js';
import type { WorkItems } from './work-items.js';

/** What the batch executor reads besides its checkpoints: the units it is given, and how many wait. */
export type BatchExecutorState = BatchCheckpoints &
  Ledger &
  Pick<WorkItems, 'getItem' | 'itemSteps'> & { readonly steps: Pick<StepQueries, 'unfinishedCount' | 'openUnfinishedByStep'> };

/**
 * What the engine needs of the store for one pass of a run: the executors' checkpoints and ledger,
 * the scheduler's work items, the run's lock and project health, and what it reports at the end.
 */
export type RunState = BatchExecutorState &
  RunLocks &
  WorkItems &
  ProjectHealth &
  StatusReadModel &
  ResultsReadModel & { readonly contextCaches: Pick<ContextCacheQueries, 'intent' | 'created' | 'extended' | 'ended' | 'live'> };
