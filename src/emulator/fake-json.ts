import { fakeMatch } from './fake-pattern.js';
import { fakePhrase, fakeProse } from './fake-text.js';
import type { Rng } from './seeded-random.js';

/**
 * A JSON reply that satisfies a response schema: Vertex's OpenAPI subset (`OBJECT`, `STRING`, …)
 * or lowercase JSON Schema. Objects get every property, enums are honoured, strings have sensible
 * lengths, and the string budget is spread so the whole reply lands near the drawn token count.
 * The reply must validate against the schema: bounds (inclusive and exclusive, in either draft's
 * form), `multipleOf`, lengths, item counts, `uniqueItems`, the common string formats and simple
 * `pattern`s are all honoured.
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

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function hex(rng: Rng, digits: number): string {
  let out = '';
  for (let i = 0; i < digits; i++) out += rng.int(0, 15).toString(16);
  return out;
}

/** A value for a string `format` that validators check, or undefined for free text. */
function formatted(format: string | undefined, rng: Rng, name: string | undefined): string | undefined {
  const date = (): string => `20${rng.int(20, 26)}-${pad2(rng.int(1, 12))}-${pad2(rng.int(1, 28))}`;
  const time = (): string => `${pad2(rng.int(0, 23))}:${pad2(rng.int(0, 59))}:00Z`;
  const slug = (words: number): string =>
    fakePhrase(rng, words)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'page';
  switch (format) {
    case 'date':
      return date();
    case 'date-time':
      return `${date()}T${time()}`;
    case 'time':
      return time();
    case 'duration':
      return `PT${rng.int(1, 59)}M`;
    case 'email':
      return `${slug(1)}@example.com`;
    case 'uri':
    case 'url':
    case 'uri-reference':
      return `https://example.com/${slug(3)}`;
    case 'hostname':
      return `${slug(1)}.example.com`;
    case 'uuid':
    case 'guid':
      return `${hex(rng, 8)}-${hex(rng, 4)}-4${hex(rng, 3)}-${rng.pick(['8', '9', 'a', 'b'])}${hex(rng, 3)}-${hex(rng, 12)}`;
    case 'ipv4':
      return `192.0.2.${rng.int(1, 254)}`;
    case 'ipv6':
      return `2001:db8::${hex(rng, 4)}`;
    default:
      return name !== undefined && /(^|_)(url|uri|link)$/i.test(name) ? `https://example.com/${slug(3)}` : undefined;
  }
}

/** Cuts `text` to `maxLength` characters, at a word boundary when one is late enough. */
function cut(text: string, minLength: number, maxLength: number): string {
  if (text.length <= maxLength) return text;
  const head = text.slice(0, maxLength);
  const lastSpace = head.lastIndexOf(' ');
  return lastSpace >= Math.max(minLength, 1) ? head.slice(0, lastSpace) : head;
}

function fakeString(schema: Schema, ctx: Context, name: string | undefined): string {
  const { rng } = ctx;
  const format = typeof schema.format === 'string' ? schema.format : undefined;
  const maxLength = asNumber(schema.maxLength) ?? Infinity;
  const minLength = Math.min(asNumber(schema.minLength) ?? 0, maxLength);
  let text =
    formatted(format, rng, name) ??
    (name !== undefined && SHORT_FIELD.test(name)
      ? fakePhrase(rng, rng.int(2, 6), ctx.prompt)
      : fakeProse(rng, Math.max(3, ctx.tokensPerString), ctx.prompt).replace(/\s*\n+\s*/g, ' '));
  while (text.length < minLength) text += ` ${fakePhrase(rng, 3, ctx.prompt).toLowerCase()}`;
  text = cut(text, minLength, maxLength);

  const pattern = typeof schema.pattern === 'string' ? schema.pattern : undefined;
  if (pattern !== undefined && !matches(pattern, text)) text = fakeMatch(pattern, rng, minLength, maxLength) ?? text;
  return text;
}

function matches(pattern: string, text: string): boolean {
  try {
    return new RegExp(pattern).test(text);
  } catch {
    return true;
  }
}

/** Bounds of a number schema as [low, high], from JSON Schema's and OpenAPI 3.0's spellings. */
function numberBounds(schema: Schema, step: number): [number, number] {
  const minimum = asNumber(schema.minimum);
  const maximum = asNumber(schema.maximum);
  // Draft 6+: exclusiveMinimum is a number; draft 4 and OpenAPI 3.0: a boolean beside minimum.
  const exclusiveMin = asNumber(schema.exclusiveMinimum) ?? (schema.exclusiveMinimum === true ? minimum : undefined);
  const exclusiveMax = asNumber(schema.exclusiveMaximum) ?? (schema.exclusiveMaximum === true ? maximum : undefined);
  const lows = [schema.exclusiveMinimum === true ? undefined : minimum, exclusiveMin === undefined ? undefined : exclusiveMin + step].filter(
    (n): n is number => n !== undefined,
  );
  const highs = [schema.exclusiveMaximum === true ? undefined : maximum, exclusiveMax === undefined ? undefined : exclusiveMax - step].filter(
    (n): n is number => n !== undefined,
  );
  let low = lows.length > 0 ? Math.max(...lows) : undefined;
  let high = highs.length > 0 ? Math.min(...highs) : undefined;
  if (low === undefined) low = high === undefined || high >= 0 ? 0 : high - 100;
  if (high === undefined) high = low + 100;
  return [low, Math.max(low, high)];
}

function fakeNumber(schema: Schema, rng: Rng, integer: boolean): number {
  const multipleOf = asNumber(schema.multipleOf);
  const [low, high] = numberBounds(schema, integer ? 1 : 0.01);
  if (multipleOf !== undefined && multipleOf > 0) {
    const first = Math.ceil(low / multipleOf);
    const last = Math.max(first, Math.floor(high / multipleOf));
    const value = rng.int(first, Math.min(last, first + 1000)) * multipleOf;
    // Keep the decimals of the step (0.1 * 3 is 0.30000000000000004 otherwise).
    const decimals = (String(multipleOf).split('.')[1] ?? '').length;
    return Number(value.toFixed(Math.min(decimals, 20)));
  }
  if (integer) return rng.int(Math.ceil(low), Math.max(Math.ceil(low), Math.floor(high)));
  return Math.min(high, Math.max(low, Math.round((low + rng.next() * (high - low)) * 100) / 100));
}

/** Items for an array schema: a count inside minItems..maxItems, distinct when uniqueItems asks. */
function fakeArray(schema: Schema, ctx: Context, name: string | undefined): unknown[] {
  const { rng } = ctx;
  const maxItems = asNumber(schema.maxItems);
  const minItems = asNumber(schema.minItems) ?? Math.min(1, maxItems ?? 1);
  const upper = Math.max(minItems, Math.min(maxItems ?? Infinity, Math.max(minItems, 3)));
  const count = rng.int(minItems, upper);
  const items = asSchema(schema.items);
  const inner: Context = { ...ctx, depth: ctx.depth + 1 };
  if (schema.uniqueItems !== true) return Array.from({ length: count }, () => generate(items, inner, name));
  const seen = new Set<string>();
  const out: unknown[] = [];
  for (let attempt = 0; out.length < count && attempt < count * 10; attempt++) {
    const item = generate(items, inner, name);
    const key = JSON.stringify(item);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(item);
  }
  return out;
}

/** The smallest value of a schema's kind, for schemas nested deeper than the generator goes. */
function minimal(schema: Schema, ctx: Context): unknown {
  switch (kindOf(schema)) {
    case 'object':
      return {};
    case 'array':
      return [];
    case 'integer':
      return fakeNumber(schema, ctx.rng, true);
    case 'number':
      return fakeNumber(schema, ctx.rng, false);
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return fakePhrase(ctx.rng, 2);
  }
}

function generate(schema: Schema | undefined, ctx: Context, name?: string): unknown {
  const { rng } = ctx;
  if (!schema) return fakePhrase(rng, 3, ctx.prompt);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return rng.pick(schema.enum);
  const options = branches(schema);
  if (options.length > 0) return generate(rng.pick(options), ctx, name);
  if (ctx.depth > 32) return minimal(schema, ctx);
  const inner: Context = { ...ctx, depth: ctx.depth + 1 };
  switch (kindOf(schema)) {
    case 'object': {
      const properties = asSchema(schema.properties) ?? {};
      const result: Record<string, unknown> = {};
      for (const key of propertyNames(schema)) result[key] = generate(asSchema(properties[key]), inner, key);
      return result;
    }
    case 'array':
      return fakeArray(schema, ctx, name);
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

/** A value of another kind than `schema` asks for. */
function wrongKind(schema: Schema | undefined): unknown {
  switch (schema && kindOf(schema)) {
    case 'string':
      return 42;
    case 'number':
    case 'integer':
      return 'forty-two';
    case 'boolean':
      return 'yes';
    case 'array':
      return 'none';
    case 'null':
      return 0;
    default:
      return ['unexpected'];
  }
}

/**
 * The JSON text of a reply that breaks `schema` the way models slip (for `bad_json_rate`): a
 * required property left out, else a property of the wrong type, else a root of the wrong type.
 * A reply without a schema is cut short, so it no longer parses.
 */
export function breakJson(value: unknown, schema: unknown, rng: Rng): string {
  const root = asSchema(schema);
  const text = JSON.stringify(value);
  if (!root) return text.slice(0, Math.max(1, Math.floor(text.length * (0.3 + rng.next() * 0.5))));
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const required = Array.isArray(root.required) ? root.required.map(String).filter((key) => key in copy) : [];
    if (required.length > 0) {
      delete copy[rng.pick(required)];
      return JSON.stringify(copy);
    }
    const keys = Object.keys(copy);
    if (keys.length > 0) {
      const key = rng.pick(keys);
      copy[key] = wrongKind(asSchema(asSchema(root.properties)?.[key]));
      return JSON.stringify(copy);
    }
  }
  return JSON.stringify(wrongKind(root));
}
