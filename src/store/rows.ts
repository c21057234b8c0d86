import type { CheckVerdict } from '../quality/check-verdict.js';
import type { StepState } from './step-state.js';

// The rows the store reads and writes, as the rest of genbatch sees them (no SQL here: see sql/).

export interface ItemRow {
  id: string;
  ord: number;
  line: number | null;
  values: Record<string, string>;
  inputHash: string;
}

/** An item to sync: its row as values, or already serialised (`rowJson`, the text its hash was taken of). */
export type ItemUpsert = Omit<ItemRow, 'values'> & ({ values: Record<string, string>; rowJson?: string } | { values?: undefined; rowJson: string });

export interface ItemStepRow {
  itemId: string;
  step: string;
  state: StepState;
  attempts: number;
  runId: string | null;
  project: string | null;
  promptHash: string | null;
  result: unknown;
  outputs: string[];
  operationName: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  costUsd: number;
  /** The model that produced the result (the step's own or a fallback); null before version 6 or when not done. */
  model: string | null;
  /** The result came from the response cache. */
  cached: boolean;
  /** The response cache key of the answer, when the step's answers are cached. */
  cacheKey: string | null;
  /** Put back to be redone: the next answer must come from a call, not the cache. */
  noCache: boolean;
  /** The finish reason of the step's last reply (STOP, MAX_TOKENS, SAFETY…); null when none (see migration 7). */
  finishReason: string | null;
  /** A done step that kept a reply cut at max_output_tokens (`on_truncated: keep`). */
  truncated: boolean;
  /** How many times a reviewer had the step redone (`retry --rejected`); 0 before version 11. */
  draw?: number;
  /** The latest verdicts of the step's checks (schema 12); undefined before any output was checked. */
  checks?: CheckVerdict[];
  /** Regenerations after failed checks in this round (on_fail.regenerate caps it); 0 before version 12. */
  checkAttempts?: number;
  /** Every regeneration ever made (never reset): the seed moves on by it. */
  checkDraws?: number;
  /** What the checks came to: passed, regenerated, kept, review (queued for a person), failed. */
  checkOutcome?: CheckOutcome | null;
}

/** What a step's checks came to for its output. */
export type CheckOutcome = 'passed' | 'regenerated' | 'kept' | 'review' | 'failed';

/** An output a regeneration replaced after it failed its checks (table check_attempts, schema 12). */
export interface CheckAttempt {
  itemId: string;
  step: string;
  /** 1 for the first output of the step, counted over its whole life. */
  attempt: number;
  result: unknown;
  outputs: string[];
  checks: CheckVerdict[];
  costUsd: number;
  at: string;
}

/** An output a regenerate replaced, kept until the reviewer keeps the new one or puts this one back. */
export interface ReplacedOutput {
  itemId: string;
  step: string;
  result: unknown;
  outputs: string[];
  model: string | null;
  costUsd: number;
  /** The folder of `<state file>.replaced/` that holds copies of its files. */
  keptDir: string | null;
  replacedAt: string;
  decision: 'new' | 'old' | null;
  decidedAt: string | null;
}

export interface LedgerEntry {
  /** The call's intent row (openCall), settled by this entry; absent: the entry is a new row. */
  id?: number;
  runId: string;
  itemId?: string;
  step?: string;
  project: string;
  model: string;
  httpStatus: number;
  errorCode?: string;
  inputTokens: number;
  outputTokens: number;
  thoughtsTokens: number;
  images: number;
  videoSeconds: number;
  characters: number;
  /** Input tokens served from a context cache (part of inputTokens, priced at the cached price). */
  cachedTokens?: number;
  /** usageMetadata.trafficType, when the reply gave it (PROVISIONED_THROUGHPUT calls cost $0). */
  trafficType?: string;
  /** The API reported no token counts; genbatch counted the input tokens (Gemini API embeddings). */
  countedByGenbatch?: boolean;
  costUsd: number;
  durationMs: number;
  /** A step served from the response cache: no call was made (project "(cache)", $0). */
  cached?: boolean;
}

/** The ledger's project for steps served from the response cache (not a valid project name, so never a real one). */
export const CACHE_LEDGER_PROJECT = '(cache)';

export interface RunRow {
  id: string;
  startedAt: string;
  endedAt: string | null;
  outcome: string | null;
  exitCode: number | null;
  pid: number | null;
  host: string | null;
  heartbeatAt: string | null;
}

export interface StepDone {
  result: unknown;
  outputs: string[];
  promptHash: string;
  costUsd: number;
  /** The model that produced it (a fallback model, maybe); the step's model when absent. */
  model?: string;
  /** Served from the response cache. */
  cached?: boolean;
  /** The answer's response cache key. */
  cacheKey?: string;
  /** The reply's finish reason, when the model gave one. */
  finishReason?: string;
  /** The reply was cut at max_output_tokens and kept (`on_truncated: keep`). */
  truncated?: boolean;
}

/** Why a step failed (or was filtered): what finishStep records on it. */
export interface StepFailure {
  code: string;
  message: string;
  promptHash?: string;
  costUsd?: number;
  model?: string;
  finishReason?: string;
}
