import type { BatchJob } from '@google/genai';
import type { Credentials } from '../../credentials/credentials.js';
import { BatchStepStoppedError } from '../../errors/batch-step-stopped-error.js';
import type { GenbatchError } from '../../errors/genbatch-error.js';
import { ProviderError } from '../../errors/provider-errors.js';
import type { SpendGuard } from '../../estimate/budget.js';
import type { BudgetHold } from '../budget-hold.js';
import type { Step } from '../../job/job.js';
import { usageOf } from '../../providers/gemini-reply.js';
import type { ProviderRequest, Usage } from '../../providers/provider.js';
import type { BatchExecutorState } from '../../store/interfaces/run-state.js';
import type { RenderedStep } from '../render-step.js';
import type { Unit } from '../unit.js';
import type { BatchService } from './batch-service.js';
import type { ExecutionContext, OnlineExecutor } from './online-executor.js';
import { reactionTo } from '../error-reactions.js';
import { ITEM_LABEL, itemLabel, requestHash } from './batch-matching.js';

/** Vertex refuses batch input files above 1 GB. */
export const MAX_BATCH_INPUT_BYTES = 1_000_000_000;
/** A batch job that could not be created for a passing reason (429, 5xx, network) is tried again after this. */
export const CREATE_RETRY_MS = 30_000;

export const TERMINAL = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_PARTIALLY_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_EXPIRED']);
/** Ended without answering every line: the unanswered units go back to pending, with the reason. */
export const UNFINISHED_REASON: Record<string, string> = {
  JOB_STATE_EXPIRED: 'the batch job expired at Vertex before this request was answered',
  JOB_STATE_CANCELLED: 'the batch job was cancelled before this request was answered',
  JOB_STATE_FAILED: 'the batch job failed at Vertex',
};

export interface BatchContext extends ExecutionContext {
  store: BatchExecutorState;
  /** Writes outputs and checkpoints a reply exactly as an online call's (outputs, JSON, filtered). */
  online: OnlineExecutor;
  budget: SpendGuard | undefined;
  /** The credentials in force (the file may be reloaded during a run). */
  credentials: () => Credentials;
  signal: AbortSignal;
  /** Submit and return: do not wait for batch jobs to finish (each is polled once). */
  noWait: boolean;
  /** Nothing fits under the budget and nothing holds a reservation that could free room. */
  onBudgetRefused: (worstCaseUsd: number) => void;
  /** A batch step stopped for this run (lines that match no item, staging that failed); the other steps go on. */
  onStepStopped?: (error: BatchStepStoppedError) => void;
  /** Vertex AI's batch jobs and Cloud Storage (the SDK and its client library when absent; unit tests give a fake). */
  service?: BatchService;
}

/** A unit in a batch job: what it asked and what was set aside for it. */
export interface Member {
  unit: Unit;
  rendered: RenderedStep;
  request: ProviderRequest;
  reservedUsd: number;
  /** Its worst case held against the budget, settled from what its line cost. */
  hold: BudgetHold | undefined;
  ledgerId: number | undefined;
  /** SHA-256 of the submitted request's canonical form: the last way to find its output line. */
  hash: string | undefined;
}

/** A batch job this run follows, from its submission (or adoption) until its units are settled. */
export interface Tracked {
  id: string;
  step: Step;
  project: string;
  name: string | undefined;
  state: string;
  inputUri: string;
  outputUri: string;
  members: Map<string, Member>;
  createdAt: number;
  polls: number;
  nextAt: number;
  busy: boolean;
}

/** The request with the item's key in its labels, where Vertex must echo it back. */
export function labelled(request: ProviderRequest, itemId: string): ProviderRequest {
  return { ...request, labels: { ...request.labels, [ITEM_LABEL]: itemLabel(itemId) } };
}

/** An output line that answers no item of its job. */
export interface UnmatchedLine {
  /** 1-based, in the order read. */
  line: number;
  why: string;
  /** What Vertex billed for it (a line with a response); undefined for a failed line. */
  usage: Usage | undefined;
}

/** Staging in Cloud Storage failed: the error a batch step stops with. */
export function stagingError(step: string, project: string, what: string, raw: unknown, after?: string): BatchStepStoppedError {
  const cause = raw instanceof Error ? raw.message : String(raw);
  return new BatchStepStoppedError(
    step,
    'BATCH_STAGING_FAILED',
    `Batch step "${step}" stopped: ${what} on project "${project}" failed: ${cause}`,
    `Check batch.staging (or staging_bucket of project "${project}") and that its credentials can reach that bucket (a project with only an api_key cannot; give it a key_file or Application Default Credentials). ${after ?? "Then run the job again: the step's items are pending, and nothing was submitted twice."}`,
    raw,
  );
}

/** What Vertex billed for a line's response (nothing for a line that failed). */
export function lineUsage(response: unknown): Usage | undefined {
  if (response === null || typeof response !== 'object') return undefined;
  return usageOf(response as Parameters<typeof usageOf>[0]);
}

/**
 * Whether a line answers an item of its job an earlier run already settled (it died while
 * collecting the job): named by key or label, else by its request hash (each such hash once).
 */
export function answeredEarlier(line: { key?: unknown; request?: unknown }, earlier: ReadonlySet<string>, hashes: Map<string, number>): boolean {
  if (typeof line.key === 'string' && earlier.has(line.key)) return true;
  const labels = (line.request as { labels?: Record<string, unknown> } | undefined)?.labels;
  const label = labels?.[ITEM_LABEL];
  if (typeof label === 'string') return earlier.has(label);
  const hash = requestHash(line.request);
  const left = hash === undefined ? 0 : (hashes.get(hash) ?? 0);
  if (left === 0) return false;
  hashes.set(hash as string, left - 1);
  return true;
}

/**
 * The lines Vertex billed, from the job's own completionStats (`successfulCount`, an int64 sent as
 * a string); undefined when the job does not say (it never started, or the job is gone).
 */
export function successfulCount(remote: BatchJob): number | undefined {
  const raw = remote.completionStats?.successfulCount;
  if (raw === undefined || raw === null) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** `"Internal Server Error: {…"code":500…}"` → 500; 0 when the status names no code. */
export function statusCode(status: string): number {
  const match = /"code":\s*(\d{3})/.exec(status);
  return match ? Number(match[1]) : 0;
}

/** What a line's unusable reply says for lineFailed: its finish reason, and whether the step fails at once (reactions table: `fail`). */
export function replyOf(error: GenbatchError): { finishReason?: string; final?: boolean } {
  const finishReason = error instanceof ProviderError ? error.finishReason : undefined;
  return { ...(finishReason === undefined ? {} : { finishReason }), final: reactionTo(error).unit === 'fail' };
}
