import { videoWithAudio } from '../providers/veo-limits.js';
import type { Step } from '../job/job.js';
import { maxEmbeddingBatch } from '../providers/embedding.js';
import type { Usage } from '../providers/provider.js';
import { emptyUsage } from '../providers/provider.js';
import { toVertexSchema } from '../providers/vertex-schema.js';
import type { PriceCatalog } from './price-catalog.js';
import { outputLimit, thinkingPlan } from './thinking-budget.js';
import { heuristicTokens } from './token-counter.js';

export { MODEL_MAX_OUTPUT_TOKENS } from './thinking-budget.js';

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

/**
 * Visible reply tokens of a text step before anything is measured: low / expected / high. Thinking
 * sits inside max_output_tokens, so the reply's share is what the thinking budget leaves of it.
 */
export function declaredOutputTokens(step: Step, catalog: PriceCatalog): [number, number, number] {
  if (step.task !== 'text') return [0, 0, 0];
  if (step.maxOutputTokens !== undefined) {
    const reply = step.maxOutputTokens - thinkingPlan(step, catalog).most;
    return [Math.round(reply * 0.2), Math.round(reply * 0.6), reply];
  }
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
 * model's default from the catalog, lowered to leave the reply half of max_output_tokens
 * (src/estimate/thinking-budget.ts). Undefined for a model the catalog does not say thinks (and
 * for other tasks): then none is sent.
 */
export function thinkingBudgetOf(step: Step, catalog: PriceCatalog): number | undefined {
  return thinkingPlan(step, catalog).budget;
}

/**
 * The most thinking tokens one call can use: the budget sent, the model's limit for dynamic
 * thinking (-1), 0 when thinking is off. Always inside max_output_tokens.
 */
export function maxThinkingTokens(step: Step, catalog: PriceCatalog): number {
  return thinkingPlan(step, catalog).most;
}

/** Thinking tokens of one call before anything is measured: low / expected / high. */
export function declaredThinkingTokens(step: Step, catalog: PriceCatalog): [number, number, number] {
  const budget = thinkingBudgetOf(step, catalog);
  const most = maxThinkingTokens(step, catalog);
  if (most === 0) return [0, 0, 0];
  // Dynamic thinking uses what the prompt needs: most prompts need far less than the limit.
  if (budget !== undefined && budget < 0) return [Math.min(256, most), Math.min(2048, most), most];
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
 * schema) and the longest reply, thinking included: on Vertex thinking counts against
 * `max_output_tokens` (or the model's limit), so reply and thinking together never exceed it.
 */
export function worstCaseCost(step: Step, inputTokens: number, catalog: PriceCatalog): number {
  const withAudio = videoWithAudio(step.model, step.params);
  const input = step.task === 'text' || step.task === 'image' ? inputTokens + extraPromptTokens(step) : inputTokens;
  const thinking = step.task === 'text' ? maxThinkingTokens(step, catalog) : 0;
  const usage = usageOf(step, input, step.task === 'text' ? outputLimit(step) - thinking : 0, catalog);
  usage.thoughtsTokens = thinking;
  return catalog.cost(step.model, usage, { withAudio });
}
