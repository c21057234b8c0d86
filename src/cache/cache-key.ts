import { createHash } from 'node:crypto';
import type { ProviderRequest } from '../providers/provider.js';

/** Bumped when what goes into a key changes: older entries then simply stop matching (and age out). */
const KEY_VERSION = 1;

/**
 * JSON with the keys of every object sorted, at every depth, and undefined members left out (as
 * JSON.stringify does): the same value always gives the same text, whatever order the job file or
 * the code built it in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    // undefined, functions and symbols: left out of objects (see below), null in arrays, as JSON.stringify does.
    return text === undefined ? 'null' : text;
  }
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === 'function') return canonicalJson(json.call(value));
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const members = Object.keys(value)
    .sort()
    .flatMap((k) => {
      const v = (value as Record<string, unknown>)[k];
      return v === undefined || typeof v === 'function' || typeof v === 'symbol' ? [] : [`${JSON.stringify(k)}:${canonicalJson(v)}`];
    });
  return `{${members.join(',')}}`;
}

/** The members of a key, in the sorted order canonicalJson writes them. */
const MEMBERS = ['jsonSchema', 'maxOutputTokens', 'model', 'params', 'prompt', 'system', 'task', 'temperature', 'texts', 'thinkingBudget', 'v'] as const;
type Member = (typeof MEMBERS)[number];
/** What differs from one item to the next of a step; the rest is the same for all. */
type ItemPart = Pick<ProviderRequest, 'prompt' | 'system' | 'texts'>;
const ITEM_MEMBERS: ReadonlySet<Member> = new Set(['prompt', 'system', 'texts']);

const valueOf = (request: ProviderRequest, name: Member): unknown => (name === 'v' ? KEY_VERSION : request[name]);

/** One member as canonicalJson writes it inside the object, or undefined when it is left out. */
function memberText(name: Member, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return `"${name}":${typeof value === 'string' ? JSON.stringify(value) : canonicalJson(value)}`;
}

function keyOfMembers(texts: readonly (string | undefined)[]): string {
  let json = '{';
  for (const text of texts) if (text !== undefined) json += `${json.length > 1 ? ',' : ''}${text}`;
  return createHash('sha256').update(`${json}}`).digest('hex');
}

/**
 * The cache key of a request: sha256 (hex) of the canonical JSON of what decides its answer — the
 * task, model, rendered prompt or texts, system instruction, JSON schema, output and thinking
 * budgets, temperature and every task parameter. Never the labels (run and item ids: a copied job
 * must hit), the abort signal or the timeout, and never a credential (a request holds none). Nor
 * the project or API that answers: a model answers alike on Vertex AI and the Gemini API, so a pool
 * mixing both keeps one cache.
 */
export function cacheKeyOf(request: ProviderRequest): string {
  // canonicalJson of { v, task, model, prompt, texts, system, jsonSchema, maxOutputTokens,
  // thinkingBudget, temperature, params }, written member by member in sorted order (the same text,
  // so the same keys, without building and sorting that object for every call).
  return keyOfMembers(MEMBERS.map((name) => memberText(name, valueOf(request, name))));
}

/**
 * cacheKeyOf for many requests of one step that differ only in their prompt, system instruction and
 * texts: the other members (the JSON schema, the params…) are written once, not once per item. An
 * estimate looks up every item of a 100,000-item job this way.
 */
export function cacheKeyer(base: ProviderRequest): (item: ItemPart) => string {
  const fixed = MEMBERS.map((name) => (ITEM_MEMBERS.has(name) ? undefined : memberText(name, valueOf(base, name))));
  return (item) => keyOfMembers(MEMBERS.map((name, i) => (ITEM_MEMBERS.has(name) ? memberText(name, item[name as keyof ItemPart]) : fixed[i])));
}
