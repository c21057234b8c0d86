import { videoWithAudio } from '../providers/veo-limits.js';
import type { Step } from '../job/job.js';
import type { ContextCachePlan } from './context-cache-plan.js';
import type { PriceCatalog } from './price-catalog.js';
import { declaredOutputTokens, declaredThinkingTokens, itemsPerRequest, requestsFor, usageOf } from './step-usage.js';

export interface Range {
  low: number;
  expected: number;
  high: number;
}

export interface StepEstimate {
  step: string;
  task: string;
  model: string;
  /** Items still to do for this step. */
  items: number;
  /** Requests they take: as many as items, but fewer for batched steps (embeddings, `batch_size` per request). */
  requests: number;
  input_tokens: number;
  /** Reply tokens, thinking included. */
  output_tokens: Range;
  /** Of which thinking, from the thinking budget (not split out after a pilot: its measured output includes it). */
  thinking_tokens: Range;
  usd: Range;
  /** Where the output figures come from: the step's declaration, typical sizes, or a pilot's measurements. */
  basis: 'max_output_tokens' | 'typical' | 'fixed' | 'pilot';
  /** What the items left would cost on each `fallback:` model instead (used only while `model` cannot be served). */
  fallbacks?: { model: string; usd: Range }[];
  /**
   * Steps with checks, before a pilot: the assumed share of outputs failing their checks, the attempts
   * per item it means (regenerations), and what the judges cost; included in `usd`.
   */
  checks?: { assumed_failure_rate: number; attempts_per_item: number; judge_usd: Range };
  /** Items of `items` whose answer the response cache holds: $0 and no call, left out of the figures above (src/engine/cached-answers.ts). */
  cached_items?: number;
  /** Text steps with a model that caches: whether an explicit context cache pays, with both figures (`usd` includes its effect). */
  context_cache?: ContextCachePlan;
}

/** What the ledger measured of a step's finished items (retries included): a pilot's or earlier runs'. */
export interface MeasuredCost {
  calls: number;
  meanUsd: number;
  sdUsd: number;
  meanOutput: number;
  meanDurationMs: number;
}

export const round = (n: number): number => Math.round(n * 1e4) / 1e4;
export const rangeOf = (low: number, expected: number, high: number): Range => ({ low: round(low), expected: round(expected), high: round(high) });

/** What one step's items left come to. */
export interface StepEstimateInput {
  step: Step;
  /** Items with this step still to do. */
  items: number;
  /** Prompt tokens per item, counted on a sample. */
  perItemInput: number;
  /** What earlier calls of the step cost, if any finished. */
  measured: MeasuredCost | undefined;
  catalog: PriceCatalog;
  /** `batch.min_items` of the job: an `auto` step with at least that many items runs (and is priced) in batch. */
  batchMinItems: number;
}

/** A step's estimate with its context-cache plan applied: the discount less the storage, and under `mode: auto` the cheaper mode. */
export function withContextCache(estimate: StepEstimate, plan: ContextCachePlan | undefined, online: StepEstimate | undefined): StepEstimate {
  if (!plan) return estimate;
  const base = plan.mode?.chosen === 'online' && online ? online : estimate;
  if (!plan.use) return { ...estimate, context_cache: plan };
  const shift = plan.storage_usd - plan.discount_usd;
  const usd = rangeOf(Math.max(0, base.usd.low + shift), Math.max(0, base.usd.expected + shift), Math.max(0, base.usd.high + shift));
  return { ...base, usd, context_cache: plan };
}

/**
 * What the items left of one step cost: after a pilot (or earlier runs), the measured cost per
 * request with an interval; before, from the step's declared (or typical) sizes and the prices.
 */
export function estimateStep(input: StepEstimateInput): StepEstimate {
  const { step, items: n, perItemInput, measured: m, catalog } = input;
  const requests = requestsFor(step, n);
  const common = { step: step.name, task: step.task, model: step.model, items: n, requests, input_tokens: Math.round(perItemInput * n) };
  const costOn = (model: string, i: 0 | 1 | 2): number => costOfItemsOn(input, model, i);
  const fallbacks = (step.fallback ?? []).map((model) => ({ model, usd: rangeOf(costOn(model, 0), costOn(model, 1), costOn(model, 2)) }));
  const withFallbacks = fallbacks.length > 0 ? { fallbacks } : {};
  if (m && n > 0) return { ...common, ...measuredEstimate(step, n, requests, m), ...withFallbacks };
  const output = declaredOutputTokens(step, catalog);
  const thinking = declaredThinkingTokens(step, catalog);
  const total = (i: 0 | 1 | 2): number => (output[i] + thinking[i]) * n;
  return {
    ...common,
    output_tokens: rangeOf(total(0), total(1), total(2)),
    thinking_tokens: rangeOf(thinking[0] * n, thinking[1] * n, thinking[2] * n),
    usd: rangeOf(costOn(step.model, 0), costOn(step.model, 1), costOn(step.model, 2)),
    basis: step.task !== 'text' ? 'fixed' : step.maxOutputTokens !== undefined ? 'max_output_tokens' : 'typical',
    ...withFallbacks,
  };
}

/** What the items left cost on a model (the step's or a fallback), from the step's declared (or typical) sizes: low, expected or high. */
function costOfItemsOn(input: StepEstimateInput, model: string, i: 0 | 1 | 2): number {
  const { step, items: n, perItemInput, catalog } = input;
  const on = { ...step, model };
  const usage = usageOf(on, perItemInput, declaredOutputTokens(on, catalog)[i], catalog);
  usage.thoughtsTokens = declaredThinkingTokens(on, catalog)[i];
  // A step in batch (auto: when at least batch.min_items wait) is priced at the batch price.
  const batch = step.mode === 'batch' || (step.mode === 'auto' && n >= input.batchMinItems);
  return n * (batch ? catalog.batchCost(model, usage) : catalog.cost(model, usage, { withAudio: videoWithAudio(step.model, step.params) }));
}

/**
 * The measured part of a step's estimate. The ledger has one row per request (on the first item of
 * a batch): what was measured is a request's cost, so a batched step is scaled by its requests.
 */
function measuredEstimate(step: Step, n: number, requests: number, m: MeasuredCost): Pick<StepEstimate, 'output_tokens' | 'thinking_tokens' | 'usd' | 'basis'> {
  const k = itemsPerRequest(step) > 1 ? requests : n;
  // The sum of k more: spread of single ones, plus the uncertainty of the measured mean.
  const sd = Math.sqrt(k * m.sdUsd ** 2 + (k * m.sdUsd) ** 2 / m.calls);
  const expected = k * m.meanUsd;
  const output = m.meanOutput * k;
  return {
    output_tokens: rangeOf(output, output, output),
    thinking_tokens: rangeOf(0, 0, 0),
    usd: rangeOf(Math.max(0, expected - 1.96 * sd), expected, expected + 1.96 * sd),
    basis: 'pilot',
  };
}
