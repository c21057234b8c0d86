import { contextCachePlan, type ContextCachePlan } from '../estimate/context-cache-plan.js';
import type { PriceCatalog } from '../estimate/price-catalog.js';
import { estimateStep } from '../estimate/step-estimate.js';
import type { Job, Step } from '../job/job.js';
import { staticPrefix } from '../job/static-prefix.js';
import { typicalTokens } from '../providers/token-heuristics.js';

/** A call's typical duration, for the run's expected length (the storage a cache costs meanwhile). */
const TYPICAL_CALL_SECONDS = 5;

/**
 * `mode: auto` with enough items for a batch: the estimate's choice between a batch (half price) and
 * online calls with a context cache (whose discount does not stack with the batch one), from one
 * item's rendered request standing for the rest. `online` when the cache makes online calls cheaper.
 */
export function autoModeChoice(input: {
  job: Pick<Job, 'styles' | 'limits'>;
  step: Step;
  items: number;
  /** One item's rendered request: its prompt and system instruction. */
  request: { prompt: string; system?: string };
  catalog: PriceCatalog;
  /** Project and location pairs the calls spread over. */
  places: number;
  batchMinItems: number;
}): ContextCachePlan['mode'] | undefined {
  const { job, step, items, request, catalog } = input;
  if (step.mode !== 'auto' || step.task !== 'text' || (step.contextCache ?? 'auto') === 'off') return undefined;
  const perItemInput =
    typicalTokens(request.prompt) + typicalTokens(request.system ?? '') + (step.jsonSchema ? typicalTokens(JSON.stringify(step.jsonSchema)) : 0);
  const base = { step, items, perItemInput, measured: undefined, catalog };
  const batch = estimateStep({ ...base, batchMinItems: input.batchMinItems });
  const online = estimateStep({ ...base, batchMinItems: Number.POSITIVE_INFINITY });
  const prefix = staticPrefix(step, job.styles);
  const plan = contextCachePlan({
    step,
    items,
    prefixTokens: typicalTokens((prefix.system ?? '') + prefix.leading),
    catalog,
    caches: Math.max(1, input.places),
    seconds: (items * TYPICAL_CALL_SECONDS) / Math.max(1, job.limits.concurrency),
    onlineUsd: online.usd.expected,
    batchUsd: batch.usd.expected,
  });
  return plan?.mode;
}
