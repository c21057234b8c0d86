import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { distance } from 'fastest-levenshtein';
import { parse } from 'yaml';
import { z } from 'zod';
import { nearestName } from '../errors/suggest-name.js';
import type { Usage } from '../providers/provider.js';

export const modelPriceSchema = z
  .object({
    /** Other names Vertex serves the same model under, at the same price ("gemini-2.0-flash" for "gemini-2.0-flash-001"). */
    aliases: z.array(z.string()).optional(),
    input_per_1m: z.number().min(0).optional(),
    /** Input tokens served from a context cache (usageMetadata.cachedContentTokenCount); absent: the input price. */
    cached_input_per_1m: z.number().min(0).optional(),
    /** An explicit context cache's storage, per 1M cached tokens per hour it lives; absent: the model gets no explicit cache. */
    cache_storage_per_1m_token_hours: z.number().min(0).optional(),
    output_per_1m: z.number().min(0).optional(),
    long_context: z
      .object({
        above_input_tokens: z.number().int().positive(),
        input_per_1m: z.number().min(0),
        cached_input_per_1m: z.number().min(0).optional(),
        output_per_1m: z.number().min(0),
      })
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

/** The traffic type of calls served by provisioned throughput: prepaid, so their marginal cost is $0. */
export const PROVISIONED_THROUGHPUT = 'PROVISIONED_THROUGHPUT';

/** Each catalog name and alias, to the catalog key it stands for. */
function namesOf(models: Record<string, ModelPrice>): Map<string, string> {
  const names = new Map<string, string>();
  for (const [key, price] of Object.entries(models)) {
    names.set(key, key);
    for (const alias of price.aliases ?? []) if (models[alias] === undefined) names.set(alias, key);
  }
  return names;
}

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
  ) {
    this.names = namesOf(models);
  }

  /** Every name a step may use (catalog keys, their aliases, the job's own entries), to its catalog key. */
  private readonly names: Map<string, string>;

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

  /**
   * The catalog key of a model name: the name itself or an alias, exactly. No prefix or fuzzy match:
   * "gemini-2.5-flash-img" is not "gemini-2.5-flash", and must be refused, not priced as it.
   */
  private keyOf(model: string): string | undefined {
    return this.names.get(model);
  }

  /** Whether the API serves the model: Vertex serves every model it prices; the Gemini API those it lists. */
  serves(model: string, api: PricedApi): boolean {
    if (!this.has(model)) return false;
    const key = this.keyOf(model);
    return api === 'vertex' || this.overridden.has(model) || (key !== undefined && this.geminiApi[key] !== undefined);
  }

  /** The model's price on an API (the Gemini API's differs for a few models). */
  priceOn(model: string, api: PricedApi): ModelPrice | undefined {
    const price = this.priceOf(model);
    if (!price || api === 'vertex' || this.overridden.has(model)) return price;
    const key = this.keyOf(model);
    const there = key === undefined ? undefined : this.geminiApi[key];
    return there === undefined ? price : { ...price, ...there };
  }

  /** The price of a model named exactly as in the catalog (or one of its aliases, or the job's `prices:`). */
  priceOf(model: string): ModelPrice | undefined {
    const key = this.keyOf(model);
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
    return nearestName(model, [...this.names.keys()]);
  }

  /**
   * The `count` names a step may use that are closest to `model`, closest first: by edit distance to
   * the whole name or to its start (a name cut short, "imagn-4.0-fast", is near "imagen-4.0-fast-generate-001").
   */
  nearestModels(model: string, count = 3): string[] {
    const wanted = model.toLowerCase();
    const near = (name: string): number => Math.min(distance(wanted, name), distance(wanted, name.slice(0, wanted.length)) + 1);
    return [...this.names.keys()]
      .map((name) => ({ name, d: near(name.toLowerCase()) }))
      .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
      .slice(0, count)
      .map((c) => c.name);
  }

  /** Whether a model generates audio unless told not to (Veo 3: priced per second with audio). */
  hasAudio(model: string): boolean {
    return this.priceOf(model)?.per_second_with_audio !== undefined;
  }

  /** The context-cache prices of a model (explicit caching needs a storage price), or undefined when it has none. */
  contextCachePrices(model: string): { inputPer1m: number; cachedPer1m: number; storagePer1mTokenHours: number } | undefined {
    const price = this.priceOf(model);
    if (price?.cache_storage_per_1m_token_hours === undefined || price.cached_input_per_1m === undefined) return undefined;
    return { inputPer1m: price.input_per_1m ?? 0, cachedPer1m: price.cached_input_per_1m, storagePer1mTokenHours: price.cache_storage_per_1m_token_hours };
  }

  /**
   * USD for an explicit context cache's storage: `tokens` kept `seconds` (token-hours at the model's
   * storage price), as Vertex bills it and the emulator's stats count it.
   */
  cacheStorageCost(model: string, tokens: number, seconds: number): number {
    const rate = this.priceOf(model)?.cache_storage_per_1m_token_hours ?? 0;
    return Math.round(((tokens * seconds) / 3600 / 1_000_000) * rate * 1e10) / 1e10;
  }

  /**
   * USD for one line of a batch prediction job: the online price less `batch_discount`, except for
   * cached input tokens, which cost the cached price (the cache discount does not stack with the batch one).
   */
  batchCost(model: string, usage: Usage): number {
    return this.cost(model, usage, { batch: true });
  }

  /**
   * USD for one call's usage, at list price. Cached input tokens (part of `inputTokens`) cost the cached
   * price; a call served by provisioned throughput costs $0 (prepaid). Unknown models cost 0 here;
   * validation refuses them before any call.
   */
  cost(model: string, usage: Usage, options: { withAudio?: boolean; api?: PricedApi; batch?: boolean } = {}): number {
    const price = this.priceOn(model, options.api ?? 'vertex');
    if (!price || usage.trafficType === PROVISIONED_THROUGHPUT) return 0;
    let inputRate = price.input_per_1m ?? 0;
    let cachedRate = price.cached_input_per_1m;
    let outputRate = price.output_per_1m ?? 0;
    if (price.long_context && usage.inputTokens > price.long_context.above_input_tokens) {
      inputRate = price.long_context.input_per_1m;
      cachedRate = price.long_context.cached_input_per_1m;
      outputRate = price.long_context.output_per_1m;
    }
    // A usage stored before cached tokens were counted has none.
    const cachedTokens = Math.min(usage.cachedTokens || 0, usage.inputTokens);
    let usd = ((usage.inputTokens - cachedTokens) * inputRate + (usage.outputTokens + usage.thoughtsTokens) * outputRate) / 1_000_000;
    if (price.per_image !== undefined) usd += usage.images * price.per_image;
    if (price.per_1k_characters !== undefined) usd += (usage.characters / 1000) * price.per_1k_characters;
    const perSecond = options.withAudio ? (price.per_second_with_audio ?? price.per_second) : price.per_second;
    if (perSecond !== undefined) usd += usage.videoSeconds * perSecond;
    if (options.batch) usd *= 1 - this.batchDiscount;
    // Cached tokens cost the cached price, online or in a batch (where the cache discount wins).
    usd += (cachedTokens * (cachedRate ?? inputRate * (options.batch ? 1 - this.batchDiscount : 1))) / 1_000_000;
    // Keep sums exact to well below a cent over millions of calls.
    return Math.round(usd * 1e10) / 1e10;
  }
}
