import type { Usage } from '../../providers/provider.js';
import type { LedgerEntry } from '../../store/rows.js';
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

/** The call's ledger row (built member by member: object spreads cost more than the rest of it, once per call). */
export function callRecord(call: CallFacts): LedgerEntry {
  const { usage } = call;
  const entry: LedgerEntry = {
    runId: call.runId,
    itemId: call.itemId,
    step: call.step,
    project: call.project,
    model: call.model,
    httpStatus: call.httpStatus,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    thoughtsTokens: usage.thoughtsTokens,
    images: usage.images,
    videoSeconds: usage.videoSeconds,
    characters: usage.characters,
    costUsd: call.costUsd,
    durationMs: call.durationMs,
  };
  if (usage.cachedTokens) entry.cachedTokens = usage.cachedTokens;
  if (usage.trafficType) entry.trafficType = usage.trafficType;
  if (usage.countedByGenbatch) entry.countedByGenbatch = true;
  if (call.id !== undefined) entry.id = call.id;
  if (call.errorCode) entry.errorCode = call.errorCode;
  return entry;
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
