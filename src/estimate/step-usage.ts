import type { Step } from '../job/job.js';
import type { Usage } from '../providers/provider.js';
import { emptyUsage } from '../providers/provider.js';
import type { PriceCatalog } from './price-catalog.js';

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

/** The most one call of this step can cost: what the budget reserves before the call. */
export function worstCaseCost(step: Step, inputTokens: number, catalog: PriceCatalog): number {
  const maxOutput = step.task === 'text' ? (step.maxOutputTokens ?? MODEL_MAX_OUTPUT_TOKENS) : 0;
  const withAudio = step.params.generate_audio === true;
  return catalog.cost(step.model, usageOf(step, inputTokens, maxOutput, catalog), { withAudio });
}
