import type { Usage } from '../../providers/provider.js';
import type { LedgerEntry } from '../../store/state-store.js';
import type { EngineEvents } from '../events.js';

/** What an executor knows of a call as it ends: online or as a line of a batch job. */
export interface CallFacts {
  /** The call's intent row, which this record settles; absent: a new row. */
  id?: number | undefined;
  runId: string;
  itemId: string;
  step: string;
  project: string;
  model: string;
  httpStatus: number;
  errorCode?: string | undefined;
  usage: Usage;
  costUsd: number;
  durationMs: number;
}

/** The call's ledger row. */
export function callRecord(call: CallFacts): LedgerEntry {
  return {
    ...(call.id === undefined ? {} : { id: call.id }),
    runId: call.runId,
    itemId: call.itemId,
    step: call.step,
    project: call.project,
    model: call.model,
    httpStatus: call.httpStatus,
    ...(call.errorCode ? { errorCode: call.errorCode } : {}),
    ...call.usage,
    costUsd: call.costUsd,
    durationMs: call.durationMs,
  };
}

/** The `call:end` event of a recorded call: what logs and metrics count. */
export function callEnded(entry: LedgerEntry, usage: Usage): EngineEvents['call:end'][0] {
  return {
    itemId: entry.itemId ?? '',
    step: entry.step ?? '',
    project: entry.project,
    model: entry.model,
    httpStatus: entry.httpStatus,
    ...(entry.errorCode ? { errorCode: entry.errorCode } : {}),
    usage,
    costUsd: entry.costUsd,
    durationMs: entry.durationMs,
  };
}
