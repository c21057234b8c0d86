import type { LedgerQueries } from '../ledger-queries.js';
import type { StepQueries } from '../step-queries.js';

/** What `genbatch cost` and the estimates read: spend so far, and what finished items cost. */
export interface CostReadModel {
  readonly ledger: Pick<LedgerQueries, 'costRows' | 'totals' | 'finishedItemCostStats'>;
  readonly steps: Pick<StepQueries, 'finishedCount' | 'unfinishedCount' | 'unfinishedItemCount'>;
  /** What the budget counts as spent, over every run or since a time (ISO). */
  spentUsd(sinceIso?: string): number;
  /** About `n` items with a step still to do, spread over the input (estimates count tokens on these). */
  sampleUnfinishedItems(n: number): { id: string; values: Record<string, string> }[];
}
