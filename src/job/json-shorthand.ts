import type { JsonSchema } from '../providers/provider.js';

/**
 * `json: { image_prompt: string, alt_text: string, tags: "string[]" }` is shorthand for an object
 * schema whose fields are all required. A value with `type: object` and `properties` is taken as a
 * full JSON Schema and passed through.
 */
const SCALARS = new Set(['string', 'number', 'integer', 'boolean']);

export function isFullJsonSchema(value: Record<string, unknown>): boolean {
  return value.type === 'object' && typeof value.properties === 'object';
}

export function shorthandToSchema(value: unknown, path: string): JsonSchema {
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (trimmed.endsWith('[]')) return { type: 'array', items: shorthandToSchema(trimmed.slice(0, -2), path) };
    if (SCALARS.has(trimmed)) return { type: trimmed };
    throw new Error(`${path}: unknown type "${value}" (use string, number, integer, boolean, "string[]", or a nested object)`);
  }
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string') && value.length > 0) return { type: 'string', enum: value };
    throw new Error(`${path}: a list means an enum and must hold strings`);
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (isFullJsonSchema(record)) return record;
    const properties: Record<string, JsonSchema> = {};
    for (const [key, inner] of Object.entries(record)) properties[key] = shorthandToSchema(inner, `${path}.${key}`);
    return { type: 'object', properties, required: Object.keys(properties) };
  }
  throw new Error(`${path}: expected a type name or an object of fields`);
}

/** Top-level field names a JSON step produces (for template and results checks). */
export function schemaFields(schema: JsonSchema): string[] {
  const properties = schema.properties;
  return properties && typeof properties === 'object' ? Object.keys(properties) : [];
}
