import type { z } from 'zod';

/** Zod internals we walk: enough to list the valid keys of the object found at a path. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
}

function def(schema: z.ZodType): Def {
  return (schema as unknown as { def: Def }).def;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const d = def(current);
    if (d.innerType && ['optional', 'default', 'nullable', 'prefault', 'readonly', 'catch'].includes(d.type)) current = d.innerType;
    else return current;
  }
}

/** Object shapes reachable at `path` (several when a union is on the way). */
function shapesAt(schema: z.ZodType, path: readonly PropertyKey[]): Record<string, z.ZodType>[] {
  const current = unwrap(schema);
  const d = def(current);
  if (d.type === 'union' && d.options) return d.options.flatMap((option) => shapesAt(option, path));
  if (path.length === 0) return d.shape ? [d.shape] : [];
  const [head, ...rest] = path;
  if (d.type === 'object' && d.shape && typeof head === 'string') {
    const next = d.shape[head];
    return next ? shapesAt(next, rest) : [];
  }
  if (d.type === 'array' && d.element) return shapesAt(d.element, rest);
  if (d.type === 'record' && d.valueType) return shapesAt(d.valueType, rest);
  return [];
}

export function validKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  return [...new Set(shapesAt(schema, path).flatMap((shape) => Object.keys(shape)))];
}
