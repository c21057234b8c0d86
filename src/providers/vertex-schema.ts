import type { Schema } from '@google/genai';
import { InvalidRequestError } from '../errors/provider-errors.js';
import type { JsonSchema } from './provider.js';

/**
 * Converts a standard (lowercase) JSON Schema into Vertex's `responseSchema`, the OpenAPI 3.0 subset
 * with uppercase types. Property order is kept through `propertyOrdering` (Gemini writes keys in that
 * order). Constructs Vertex cannot express are refused up front rather than silently dropped.
 */
const TYPES: Record<string, string> = {
  string: 'STRING',
  number: 'NUMBER',
  integer: 'INTEGER',
  boolean: 'BOOLEAN',
  array: 'ARRAY',
  object: 'OBJECT',
};

/** Keys copied as they are (same name and meaning in both dialects). */
const COPIED = ['description', 'title', 'format', 'minimum', 'maximum', 'minItems', 'maxItems', 'minLength', 'maxLength', 'pattern', 'example', 'default'];
/** Keys that only annotate or constrain outside what Vertex checks; dropped without loss of shape. */
const IGNORED = new Set(['$schema', '$id', '$comment', 'additionalProperties', 'examples', 'readOnly', 'writeOnly', 'deprecated']);
const UNSUPPORTED = ['$ref', '$defs', 'definitions', 'allOf', 'not', 'if', 'then', 'else', 'patternProperties', 'dependentSchemas', 'prefixItems'];

function refuse(path: string, reason: string): InvalidRequestError {
  return new InvalidRequestError(`The JSON schema at ${path || '(root)'} cannot be sent to Vertex: ${reason}.`, {});
}

function asRecord(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw refuse(path, 'expected a schema object');
  return value as Record<string, unknown>;
}

function convert(node: Record<string, unknown>, path: string): Schema {
  for (const key of UNSUPPORTED) if (key in node) throw refuse(path, `"${key}" is not supported by responseSchema; inline the definition instead`);
  const out: Record<string, unknown> = {};
  let type = node.type;
  if (Array.isArray(type)) {
    const nonNull = type.filter((t) => t !== 'null');
    if (nonNull.length !== 1) throw refuse(path, `a union of types ${JSON.stringify(type)} is not supported (only one type, optionally with null)`);
    if (nonNull.length !== type.length) out.nullable = true;
    type = nonNull[0];
  }
  const options = (node.anyOf ?? node.oneOf) as unknown;
  if (Array.isArray(options)) {
    const nonNull = options.filter((o) => asRecord(o, path).type !== 'null');
    if (nonNull.length !== options.length) out.nullable = true;
    if (nonNull.length === 1 && type === undefined) return { ...convert(asRecord(nonNull[0], `${path}.anyOf[0]`), path), ...out };
    out.anyOf = nonNull.map((o, i) => convert(asRecord(o, `${path}.anyOf[${i}]`), `${path}.anyOf[${i}]`));
  }
  if (type !== undefined) {
    const mapped = typeof type === 'string' ? TYPES[type.toLowerCase()] : undefined;
    if (!mapped) throw refuse(path, `unknown type ${JSON.stringify(type)}`);
    out.type = mapped;
  }
  if ('const' in node) out.enum = [String(node.const)];
  if (Array.isArray(node.enum)) {
    // Vertex enums are strings; numbers become their text.
    out.enum = node.enum.map(String);
    if (out.type === undefined || out.type === 'NUMBER' || out.type === 'INTEGER') out.type = 'STRING';
  }
  for (const key of COPIED) if (key in node) out[key] = node[key];
  if (node.nullable === true) out.nullable = true;
  if (node.properties !== undefined) {
    const properties = asRecord(node.properties, `${path}.properties`);
    out.properties = Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, convert(asRecord(value, `${path}.${key}`), `${path}.${key}`)]));
    out.propertyOrdering = Object.keys(properties);
    if (out.type === undefined) out.type = 'OBJECT';
  }
  if (Array.isArray(node.required)) out.required = node.required.map(String);
  if (node.items !== undefined) {
    out.items = convert(asRecord(node.items, `${path}[]`), `${path}[]`);
    if (out.type === undefined) out.type = 'ARRAY';
  }
  for (const key of Object.keys(node)) {
    if (
      !IGNORED.has(key) &&
      !COPIED.includes(key) &&
      !['type', 'anyOf', 'oneOf', 'const', 'enum', 'nullable', 'properties', 'required', 'items'].includes(key)
    ) {
      throw refuse(path, `"${key}" is not supported by responseSchema`);
    }
  }
  return out as Schema;
}

export function toVertexSchema(schema: JsonSchema): Schema {
  return convert(schema, '');
}
