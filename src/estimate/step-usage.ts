import { videoWithAudio } from '../providers/veo-limits.js';
import type { Step } from '../job/job.js';
import { maxEmbeddingBatch } from '../providers/embedding.js';
import type { Usage } from '../providers/provider.js';
import { emptyUsage } from '../providers/provider.js';
import { toVertexSchema } from '../providers/vertex-schema.js';
import type { PriceCatalog } from './price-catalog.js';
import { heuristicTokens } from './token-counter.js';

/** Longest reply a Gemini 2.5 model can give when the step sets no max_output_tokens. */
export const MODEL_MAX_OUTPUT_TOKENS = 65_536;

/** Typical reply sizes (tokens) when the step declares no max_output_tokens: low / expected / high. */
const TYPICAL = { json: [60, 250, 1000], text: [100, 500, 2000] } as const;

export function candidates(step: Step): number {
  const n = step.params.sample_count ?? step.params.number_of_images ?? 1;
  return typeof n === 'number' && n > 0 ? n : 1;
}

function videoSeconds(step: Step): number {
  const d = step.params.duration_seconds;
  return (typeof d === 'number' && d > 0 ? d : 8) * candidates(step);
}

/** Output tokens of a text step before anything is measured: low / expected / high. */
export function declaredOutputTokens(step: Step): [number, number, number] {
  if (step.task !== 'text') return [0, 0, 0];
  if (step.maxOutputTokens !== undefined) return [Math.round(step.maxOutputTokens * 0.2), Math.round(step.maxOutputTokens * 0.6), step.maxOutputTokens];
  const typical = step.jsonSchema ? TYPICAL.json : TYPICAL.text;
  return [typical[0], typical[1], typical[2]];
}

/** The usage one call of this step is billed for, given its input and output tokens. */
export function usageOf(step: Step, inputTokens: number, outputTokens: number, catalog: PriceCatalog): Usage {
  const usage = emptyUsage();
  usage.inputTokens = inputTokens;
  if (step.task === 'text') usage.outputTokens = outputTokens;
  if (step.task === 'image') {
    const perImage = catalog.priceOf(step.model)?.tokens_per_image;
    if (perImage !== undefined) usage.outputTokens = perImage * candidates(step);
    else usage.images = candidates(step);
  }
  if (step.task === 'embedding') usage.characters = inputTokens * 4;
  if (step.task === 'video') usage.videoSeconds = videoSeconds(step);
  return usage;
}

/** Texts one embedding request carries when the step sets no `batch_size`. */
export const DEFAULT_EMBEDDING_BATCH = 5;

/** Items one request of this step serves: embeddings are batched, everything else is one call per item. */
export function itemsPerRequest(step: Step): number {
  if (step.task !== 'embedding') return 1;
  return Math.max(1, Math.min(step.batchSize ?? DEFAULT_EMBEDDING_BATCH, maxEmbeddingBatch(step.model)));
}

/** Requests needed for `items` items of this step. */
export function requestsFor(step: Step, items: number): number {
  return Math.ceil(items / itemsPerRequest(step));
}

/**
 * The thinking budget sent with every call of a text step: the step's `thinking_budget`, else the
 * model's default from the catalog. Undefined for a model the catalog does not say thinks (and
 * for other tasks): then none is sent.
 */
export function thinkingBudgetOf(step: Step, catalog: PriceCatalog): number | undefined {
  if (step.task !== 'text') return undefined;
  const own = step.params.thinking_budget;
  if (typeof own === 'number') return own;
  return catalog.priceOf(step.model)?.thinking?.default_budget;
}

/**
 * The most thinking tokens one call can be billed for: the budget sent (raised to the model's
 * least, which Vertex applies), the model's limit for dynamic thinking (-1), 0 when thinking is off.
 */
export function maxThinkingTokens(step: Step, catalog: PriceCatalog): number {
  const budget = thinkingBudgetOf(step, catalog);
  if (budget === undefined) return 0;
  const thinking = catalog.priceOf(step.model)?.thinking;
  if (budget < 0) return thinking?.max_budget ?? MODEL_MAX_OUTPUT_TOKENS;
  if (budget === 0 && (thinking === undefined || thinking.can_turn_off)) return 0;
  return Math.max(budget, thinking?.min_budget ?? 0);
}

/** Thinking tokens of one call before anything is measured: low / expected / high. */
export function declaredThinkingTokens(step: Step, catalog: PriceCatalog): [number, number, number] {
  const budget = thinkingBudgetOf(step, catalog);
  const most = maxThinkingTokens(step, catalog);
  if (most === 0) return [0, 0, 0];
  // Dynamic thinking uses what the prompt needs: most prompts need far less than the limit.
  if (budget !== undefined && budget < 0) return [256, 2048, most];
  return [Math.round(most * 0.2), Math.round(most * 0.6), most];
}

/**
 * Tokens Vertex counts in a prompt besides the texts the caller counted: the response schema, in
 * the dialect it is sent in, and a margin for the joins between the parts (counted apart by Vertex).
 */
const REQUEST_MARGIN_TOKENS = 8;
const schemaTokens = new WeakMap<object, number>();
function extraPromptTokens(step: Step): number {
  const schema = step.jsonSchema;
  if (!schema) return REQUEST_MARGIN_TOKENS;
  let tokens = schemaTokens.get(schema);
  if (tokens === undefined) {
    let sent: unknown;
    try {
      sent = toVertexSchema(schema);
    } catch {
      sent = schema; // refused before it is sent anyway
    }
    tokens = heuristicTokens(JSON.stringify(sent));
    schemaTokens.set(schema, tokens);
  }
  return tokens + REQUEST_MARGIN_TOKENS;
}

/**
 * The most one call of this step can cost: what the budget reserves before the call. Its input
 * (the texts' tokens as counted by the caller, never under Gemini's count, plus the response
 * schema), the longest reply (`max_output_tokens` or the model's limit) and the thinking budget.
 */
export function worstCaseCost(step: Step, inputTokens: number, catalog: PriceCatalog): number {
  const maxOutput = step.task === 'text' ? (step.maxOutputTokens ?? MODEL_MAX_OUTPUT_TOKENS) : 0;
  const withAudio = videoWithAudio(step.model, step.params);
  const input = step.task === 'text' || step.task === 'image' ? inputTokens + extraPromptTokens(step) : inputTokens;
  const usage = usageOf(step, input, maxOutput, catalog);
  usage.thoughtsTokens = maxThinkingTokens(step, catalog);
  return catalog.cost(step.model, usage, { withAudio });
}
