import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { nearestKey } from '../job/suggest-key.js';
import type { Usage } from '../providers/provider.js';

export const modelPriceSchema = z
  .object({
    input_per_1m: z.number().min(0).optional(),
    output_per_1m: z.number().min(0).optional(),
    long_context: z
      .object({ above_input_tokens: z.number().int().positive(), input_per_1m: z.number().min(0), output_per_1m: z.number().min(0) })
      .strict()
      .optional(),
    tokens_per_image: z.number().int().positive().optional(),
    per_image: z.number().min(0).optional(),
    per_1k_characters: z.number().min(0).optional(),
    per_second: z.number().min(0).optional(),
    per_second_with_audio: z.number().min(0).optional(),
    /** The context window for the prompt, in tokens (per text for embeddings): longer requests are refused. */
    input_token_limit: z.number().int().positive().optional(),
    /** A model that thinks: the budget genbatch sends when the step sets none, and the model's bounds. */
    thinking: z
      .object({
        default_budget: z.number().int().min(-1),
        min_budget: z.number().int().min(0),
        max_budget: z.number().int().positive(),
        can_turn_off: z.boolean(),
      })
      .strict()
      .optional(),
  })
  .strict();

const catalogSchema = z
  .object({
    as_of: z.string(),
    source: z.string(),
    batch_discount: z.number().min(0).max(1),
    models: z.record(z.string(), modelPriceSchema),
    /** The Gemini API (AI Studio keys): the models it serves, each with the fields whose price differs there. */
    gemini_api: z
      .object({ as_of: z.string(), source: z.string(), models: z.record(z.string(), modelPriceSchema.partial()) })
      .strict()
      .optional(),
  })
  .strict();

export type ModelPrice = z.infer<typeof modelPriceSchema>;
/** Which API a call goes to: Vertex AI, or the Gemini API with an AI Studio key. */
export type PricedApi = 'vertex' | 'gemini';
export type CatalogData = z.infer<typeof catalogSchema>;

const BUILT_IN = fileURLToPath(new URL('../../prices/catalog.yaml', import.meta.url));

/** Prices per model, from the data file plus the job's overrides. */
export class PriceCatalog {
  private constructor(
    readonly asOf: string,
    readonly source: string,
    private readonly models: Record<string, ModelPrice>,
    /** Vertex AI batch prediction's discount off the online price (0.5: half price). */
    readonly batchDiscount = 0.5,
    /** Models the Gemini API serves, with the price fields that differ there (none: the Vertex price). */
    private readonly geminiApi: Record<string, Partial<ModelPrice>> = {},
    /** Models whose price the job overrides: that price holds on every API. */
    private readonly overridden: ReadonlySet<string> = new Set(),
  ) {}

  static load(overrides: Record<string, Record<string, unknown>> = {}, file: string = BUILT_IN): PriceCatalog {
    const data = catalogSchema.parse(parse(readFileSync(file, 'utf8')));
    const builtIn = new PriceCatalog(data.as_of, data.source, data.models, data.batch_discount);
    const models = { ...data.models };
    for (const [model, price] of Object.entries(overrides)) {
      const parsed = modelPriceSchema.parse(price);
      // A price override of a model that thinks keeps its thinking bounds: without them no budget
      // would be sent, and the worst case before a call would leave thinking out.
      const thinking = parsed.thinking ?? builtIn.priceOf(model)?.thinking;
      models[model] = thinking ? { ...parsed, thinking } : parsed;
    }
    // A price override keeps the model's context window unless it gives one.
    for (const model of Object.keys(overrides)) {
      const limit = builtIn.priceOf(model)?.input_token_limit;
      const price = models[model];
      if (price && limit !== undefined && price.input_token_limit === undefined) models[model] = { ...price, input_token_limit: limit };
    }
    return new PriceCatalog(data.as_of, data.source, models, data.batch_discount, data.gemini_api?.models ?? {}, new Set(Object.keys(overrides)));
  }

  /** Exact name, else the longest key that prefixes the model name. */
  private static lookup<T>(table: Record<string, T>, model: string): string | undefined {
    if (table[model] !== undefined) return model;
    let best: string | undefined;
    for (const key of Object.keys(table)) {
      if (model.startsWith(key) && (best === undefined || key.length > best.length)) best = key;
    }
    return best;
  }

  /** Whether the API serves the model: Vertex serves every model it prices; the Gemini API those it lists. */
  serves(model: string, api: PricedApi): boolean {
    if (!this.has(model)) return false;
    return api === 'vertex' || PriceCatalog.lookup(this.geminiApi, model) !== undefined || this.overridden.has(model);
  }

  /** The model's price on an API (the Gemini API's differs for a few models). */
  priceOn(model: string, api: PricedApi): ModelPrice | undefined {
    const price = this.priceOf(model);
    if (!price || api === 'vertex' || this.overridden.has(model)) return price;
    const key = PriceCatalog.lookup(this.geminiApi, model);
    return key === undefined ? price : { ...price, ...this.geminiApi[key] };
  }

  /** Exact name, else the longest catalog key that prefixes the model name. */
  priceOf(model: string): ModelPrice | undefined {
    const key = PriceCatalog.lookup(this.models, model);
    return key === undefined ? undefined : this.models[key];
  }

  has(model: string): boolean {
    return this.priceOf(model) !== undefined;
  }

  /** The model's context window for the prompt (tokens), when the catalog knows it. */
  inputTokenLimit(model: string): number | undefined {
    return this.priceOf(model)?.input_token_limit;
  }

  /** The catalog model name closest to a mistyped one ("gemini-2.5-flsh" → "gemini-2.5-flash"). */
  nearestModel(model: string): string | undefined {
    return nearestKey(model, Object.keys(this.models));
  }

  /** USD for one line of a batch prediction job: the online price less `batch_discount`. */
  batchCost(model: string, usage: Usage): number {
    return Math.round(this.cost(model, usage) * (1 - this.batchDiscount) * 1e10) / 1e10;
  }

  /** USD for one call's usage. Unknown models cost 0 here; validation refuses them before any call. */
  cost(model: string, usage: Usage, options: { withAudio?: boolean; api?: PricedApi } = {}): number {
    const price = this.priceOn(model, options.api ?? 'vertex');
    if (!price) return 0;
    let inputRate = price.input_per_1m ?? 0;
    let outputRate = price.output_per_1m ?? 0;
    if (price.long_context && usage.inputTokens > price.long_context.above_input_tokens) {
      inputRate = price.long_context.input_per_1m;
      outputRate = price.long_context.output_per_1m;
    }
    let usd = (usage.inputTokens * inputRate + (usage.outputTokens + usage.thoughtsTokens) * outputRate) / 1_000_000;
    if (price.per_image !== undefined) usd += usage.images * price.per_image;
    if (price.per_1k_characters !== undefined) usd += (usage.characters / 1000) * price.per_1k_characters;
    const perSecond = options.withAudio ? (price.per_second_with_audio ?? price.per_second) : price.per_second;
    if (perSecond !== undefined) usd += usage.videoSeconds * perSecond;
    // Keep sums exact to well below a cent over millions of calls.
    return Math.round(usd * 1e10) / 1e10;
  }
}
