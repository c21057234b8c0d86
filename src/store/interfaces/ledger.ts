import type { LedgerEntry } from '../rows.js';

/**
 * The call ledger as the calls write it and the budget reads it: intent before spend (an unsettled
 * row at the call's worst case), then the row settled to what the call really used.
 */
export interface Ledger {
  /** The ledger row of a call about to be sent, unsettled, with the most it can cost; its id. */
  openCall(call: { runId: string; itemId: string; step: string; project: string; model: string; reservedUsd: number }): number;
  /** A call's row: its intent row (entry.id) settled, or a new row. */
  recordCall(entry: LedgerEntry): void;
  /** A call whose outcome will never be known: its row stays unsettled, counted at its worst case. */
  markCallUnknown(id: number, errorCode: string, durationMs: number): void;
  /** The unsettled intent row of an item's step (a video operation started by an earlier run), if any. */
  unsettledCallOf(itemId: string, step: string): { id: number; reservedUsd: number; model: string } | undefined;
  /** Requests to a project and model since a time (ISO): `rpd` across runs. */
  requestsSince(project: string, model: string, sinceIso: string): number;
  /** What the budget counts as spent: settled spend plus the worst case of unsettled calls, over every run or since a time (ISO). */
  spentUsd(sinceIso?: string): number;
}
