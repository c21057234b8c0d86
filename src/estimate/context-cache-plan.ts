import type { ContextCacheSetting, Step } from '../job/job.js';
import { MIN_CACHE_TOKENS } from '../job/static-prefix.js';
import type { PriceCatalog } from './price-catalog.js';

/**
 * Whether an explicit context cache pays for a step (issue 29): the discount on the static prefix of
 * the items left (input price less cached price) against the cache's storage for the run's expected
 * duration, in every project and location the calls spread over (a cache is visible only there).
 * Under `mode: auto`, also which mode is cheaper: Vertex batch prediction halves the price, but its
 * discount does not stack with the cache's (the cache discount replaces it), so online calls with a
 * cache can cost less than a batch when the prefix is most of the request.
 */
export interface ContextCachePlan {
  setting: ContextCacheSetting;
  /** Tokens of the static prefix (system instruction and fixed text before the first item field). */
  prefix_tokens: number;
  /** Whether the step's online calls use an explicit cache. */
  use: boolean;
  /** Why (or why not), in words. */
  reason: string;
  /** The discount on the items left: their prefixes at the cached price instead of the input price. */
  discount_usd: number;
  /** Storage for the expected duration, over `caches` caches. */
  storage_usd: number;
  /** Caches the run keeps at a time: one per project and location (and model) the calls go to. */
  caches: number;
  /** The duration the storage is priced for. */
  hours: number;
  /** `mode: auto` with enough items for a batch: the cheaper mode and why. */
  mode?: { chosen: 'online' | 'batch'; online_usd: number; batch_usd: number; reason: string };
}

export interface ContextCachePlanInput {
  step: Pick<Step, 'name' | 'task' | 'model' | 'mode' | 'contextCache'>;
  /** Items (and so requests: a text step sends one per item) left. */
  items: number;
  prefixTokens: number;
  catalog: PriceCatalog;
  /** Project and location pairs the step's calls spread over. */
  caches: number;
  /** The run's expected duration. */
  seconds: number;
  /** What the items left cost online without a cache, and in a batch (`mode: auto` with enough items), expected. */
  onlineUsd: number;
  batchUsd?: number;
}

const money = (n: number): string => `$${n.toFixed(n < 10 ? 4 : 2)}`;
const round = (n: number): number => Math.round(n * 1e6) / 1e6;

/** The plan for a step, or undefined when no explicit cache can apply (not text, no storage price, nothing left). */
export function contextCachePlan(input: ContextCachePlanInput): ContextCachePlan | undefined {
  const { step, items, prefixTokens, catalog } = input;
  const setting = step.contextCache ?? 'auto';
  const prices = catalog.contextCachePrices(step.model);
  if (step.task !== 'text' || items === 0 || prices === undefined) return undefined;
  const hours = Math.max(60, input.seconds) / 3600;
  const discount = (items * prefixTokens * (prices.inputPer1m - prices.cachedPer1m)) / 1_000_000;
  const storage = (input.caches * prefixTokens * hours * prices.storagePer1mTokenHours) / 1_000_000;
  const base = { setting, prefix_tokens: prefixTokens, discount_usd: round(discount), storage_usd: round(storage), caches: input.caches, hours: round(hours) };
  const figures = `discount ${money(discount)} on ${items} items vs storage ${money(storage)} for ${formatHours(hours)} in ${input.caches} project/location(s)`;
  if (setting === 'off') return { ...base, use: false, reason: 'context_cache: off' };
  if (prefixTokens < MIN_CACHE_TOKENS)
    return { ...base, use: false, reason: `the static prefix is about ${prefixTokens} tokens; Vertex caches ${MIN_CACHE_TOKENS} at least` };
  const pays = discount > storage;
  const cachedOnline = input.onlineUsd - discount + storage;
  let mode: ContextCachePlan['mode'];
  if (step.mode === 'batch') return { ...base, use: false, reason: 'mode: batch (the batch discount applies; it does not stack with a cache discount)' };
  if (step.mode === 'auto' && input.batchUsd !== undefined) {
    const online = setting === 'on' || pays ? cachedOnline : input.onlineUsd;
    const chosen = online < input.batchUsd ? 'online' : 'batch';
    mode = {
      chosen,
      online_usd: round(online),
      batch_usd: round(input.batchUsd),
      reason:
        chosen === 'online'
          ? `online with the cache ${money(online)} is less than a batch ${money(input.batchUsd)} (the batch discount does not stack with the cache's)`
          : `a batch ${money(input.batchUsd)} is less than online with the cache ${money(online)}`,
    };
    if (chosen === 'batch') return { ...base, use: false, reason: `mode: auto runs a batch: ${mode.reason}`, mode };
  }
  const reason =
    setting === 'on' ? `context_cache: on (${figures})` : pays ? `it pays: ${figures}` : `it does not pay: ${figures}; implicit caching may still apply`;
  return { ...base, use: setting === 'on' || pays, reason, ...(mode ? { mode } : {}) };
}

function formatHours(hours: number): string {
  return hours < 1 ? `${Math.round(hours * 60)} min` : `${hours.toFixed(1)} h`;
}
