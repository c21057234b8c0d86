import { fakePhrase, fakeProse } from './fake-text.js';
import type { Rng } from './seeded-random.js';

/**
 * A JSON reply that satisfies a response schema: Vertex's OpenAPI subset (`OBJECT`, `STRING`, …)
 * or lowercase JSON Schema. Objects get every property, enums are honoured, strings have sensible
 * lengths, and the string budget is spread so the whole reply lands near the drawn token count.
 */
type Schema = Record<string, unknown>;
type Kind = 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';

const KINDS: readonly Kind[] = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'];
/** Field names whose values are short labels rather than prose. */
const SHORT_FIELD = /(^|_)(title|name|label|heading|slug|tag|tags|category|keyword|keywords|id|type|kind|status|color|colour|author|topic|headline)s?$/i;

interface Context {
  rng: Rng;
  prompt: string;
  tokensPerString: number;
  depth: number;
}

function asSchema(value: unknown): Schema | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Schema) : undefined;
}

function asNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function kindOf(schema: Schema): Kind | undefined {
  const raw = Array.isArray(schema.type) ? schema.type.find((t) => String(t).toLowerCase() !== 'null') : schema.type;
  const kind = typeof raw === 'string' ? raw.toLowerCase() : undefined;
  if (kind && (KINDS as readonly string[]).includes(kind)) return kind as Kind;
  if (asSchema(schema.properties)) return 'object';
  if (asSchema(schema.items)) return 'array';
  return undefined;
}

function branches(schema: Schema): Schema[] {
  const list = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : [];
  return list.map(asSchema).filter((s): s is Schema => s !== undefined && kindOf(s) !== 'null');
}

function propertyNames(schema: Schema): string[] {
  const properties = asSchema(schema.properties) ?? {};
  const ordering = Array.isArray(schema.propertyOrdering) ? schema.propertyOrdering.map(String) : [];
  const rest = Object.keys(properties).filter((key) => !ordering.includes(key));
  return [...ordering.filter((key) => key in properties), ...rest];
}

/** How many prose strings a reply to this schema holds, to share the token budget between them. */
function proseSlots(schema: Schema | undefined, name: string | undefined, depth = 0): number {
  if (!schema || depth > 8) return 0;
  const options = branches(schema);
  if (options.length > 0) return proseSlots(options[0], name, depth + 1);
  switch (kindOf(schema)) {
    case 'object': {
      const properties = asSchema(schema.properties) ?? {};
      return propertyNames(schema).reduce((sum, key) => sum + proseSlots(asSchema(properties[key]), key, depth + 1), 0);
    }
    case 'array':
      return 2.5 * proseSlots(asSchema(schema.items), name, depth + 1);
    case 'string':
    case undefined:
      return Array.isArray(schema.enum) || schema.format || (name && SHORT_FIELD.test(name)) ? 0 : 1;
    default:
      return 0;
  }
}

function fakeString(schema: Schema, ctx: Context, name: string | undefined): string {
  const { rng } = ctx;
  const format = typeof schema.format === 'string' ? schema.format : undefined;
  let text: string;
  if (format === 'date') text = `20${rng.int(20, 26)}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
  else if (format === 'date-time') text = `20${rng.int(20, 26)}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}T${String(rng.int(0, 23)).padStart(2, '0')}:${String(rng.int(0, 59)).padStart(2, '0')}:00Z`;
  else if (format === 'email') text = `${fakePhrase(rng, 1).toLowerCase()}@example.com`;
  else if (format === 'uri' || format === 'url' || (name !== undefined && /(^|_)(url|uri|link)$/i.test(name))) text = `https://example.com/${fakePhrase(rng, 3).toLowerCase().replace(/\s+/g, '-')}`;
  else if (name !== undefined && SHORT_FIELD.test(name)) text = fakePhrase(rng, rng.int(2, 6), ctx.prompt);
  else text = fakeProse(rng, Math.max(3, ctx.tokensPerString), ctx.prompt).replace(/\s*\n+\s*/g, ' ');

  const maxLength = asNumber(schema.maxLength);
  const minLength = asNumber(schema.minLength) ?? 0;
  while (text.length < minLength) text += ` ${fakePhrase(rng, 3, ctx.prompt).toLowerCase()}`;
  if (maxLength !== undefined && text.length > maxLength) {
    const cut = text.slice(0, maxLength);
    const lastSpace = cut.lastIndexOf(' ');
    text = lastSpace >= Math.max(minLength, 1) ? cut.slice(0, lastSpace) : cut;
  }
  return text;
}

function fakeNumber(schema: Schema, rng: Rng, integer: boolean): number {
  const step = integer ? 1 : 0.01;
  const exclusiveMin = asNumber(schema.exclusiveMinimum);
  const exclusiveMax = asNumber(schema.exclusiveMaximum);
  const low = asNumber(schema.minimum) ?? (exclusiveMin === undefined ? 0 : exclusiveMin + step);
  const high = Math.max(low, asNumber(schema.maximum) ?? (exclusiveMax === undefined ? low + 100 : exclusiveMax - step));
  if (integer) return rng.int(Math.ceil(low), Math.max(Math.ceil(low), Math.floor(high)));
  return Math.min(high, Math.max(low, Math.round((low + rng.next() * (high - low)) * 100) / 100));
}

function generate(schema: Schema | undefined, ctx: Context, name?: string): unknown {
  const { rng } = ctx;
  if (!schema || ctx.depth > 8) return fakePhrase(rng, 3, ctx.prompt);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return rng.pick(schema.enum);
  const options = branches(schema);
  if (options.length > 0) return generate(rng.pick(options), ctx, name);
  const inner: Context = { ...ctx, depth: ctx.depth + 1 };
  switch (kindOf(schema)) {
    case 'object': {
      const properties = asSchema(schema.properties) ?? {};
      const result: Record<string, unknown> = {};
      for (const key of propertyNames(schema)) result[key] = generate(asSchema(properties[key]), inner, key);
      return result;
    }
    case 'array': {
      const minItems = asNumber(schema.minItems) ?? 1;
      const maxItems = Math.max(minItems, asNumber(schema.maxItems) ?? Math.max(minItems, 4));
      const count = rng.int(minItems, Math.min(maxItems, Math.max(minItems, 3)));
      const items = asSchema(schema.items);
      return Array.from({ length: count }, () => generate(items, inner, name));
    }
    case 'integer':
      return fakeNumber(schema, rng, true);
    case 'number':
      return fakeNumber(schema, rng, false);
    case 'boolean':
      return rng.chance(0.5);
    case 'null':
      return null;
    default:
      return fakeString(schema, ctx, name);
  }
}

/** A value satisfying `schema`, sized for about `targetTokens` tokens once serialised. */
export function fakeJson(schema: unknown, rng: Rng, targetTokens: number, prompt: string): unknown {
  const root = asSchema(schema);
  if (!root) return { response: fakeProse(rng, Math.max(3, targetTokens - 6), prompt) };
  const slots = proseSlots(root, undefined);
  // Keys, quotes and braces cost tokens too; roughly a third of a JSON reply is structure.
  const tokensPerString = slots > 0 ? Math.max(3, Math.floor((targetTokens * 0.7) / slots)) : 3;
  return generate(root, { rng, prompt, tokensPerString, depth: 0 });
}
