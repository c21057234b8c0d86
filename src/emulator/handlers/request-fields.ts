import { invalidArgument } from '../vertex-error.js';

/** Small readers for request bodies that answer malformed fields with Vertex's 400, not a crash. */
export type Json = Record<string, unknown>;

export function asObject(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

export function optionalNumber(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw invalidArgument(`Invalid value at '${field}' (TYPE_INT32), ${JSON.stringify(value)}`);
  return n;
}

export function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidArgument(`Invalid value at '${field}' (TYPE_STRING), ${JSON.stringify(value)}`);
  return value;
}

export function instancesOf(body: Json): Json[] {
  const instances = body.instances;
  if (!Array.isArray(instances) || instances.length === 0) throw invalidArgument('Request must contain at least one instance in "instances".');
  return instances.map((instance, i) => {
    const object = asObject(instance);
    if (!object) throw invalidArgument(`Invalid value at 'instances[${i}]': expected an object.`);
    return object;
  });
}

/** Whether a prompt contains one of the configured blocked terms (case-insensitive). */
export function isBlocked(prompt: string, blockedTerms: readonly string[]): boolean {
  const lower = prompt.toLowerCase();
  return blockedTerms.some((term) => lower.includes(term.toLowerCase()));
}

const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;

/** Vertex's label rules: lowercase keys starting with a letter, values of [a-z0-9_-], 63 characters at most. */
export function checkLabels(labels: unknown): void {
  if (labels === undefined) return;
  const object = asObject(labels);
  if (!object) throw invalidArgument("Invalid value at 'labels': expected a map of strings.");
  const entries = Object.entries(object);
  if (entries.length > 64) throw invalidArgument(`At most 64 labels are allowed, got ${entries.length}.`);
  for (const [key, value] of entries) {
    if (!LABEL_KEY.test(key))
      throw invalidArgument(`Label key "${key}" is invalid: use lowercase letters, digits, _ and -, starting with a letter, at most 63 characters.`);
    if (typeof value !== 'string' || !LABEL_VALUE.test(value)) {
      throw invalidArgument(`Label value ${JSON.stringify(value)} for "${key}" is invalid: use lowercase letters, digits, _ and -, at most 63 characters.`);
    }
  }
}
