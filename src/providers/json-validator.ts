import { z } from 'zod';
import { InvalidRequestError } from '../errors/provider-errors.js';
import type { JsonSchema } from './provider.js';

/**
 * Checks a parsed reply against the step's JSON Schema (zod compiles it once per schema).
 * Returns the problems as short sentences with their paths, or an empty list.
 */
const compiled = new WeakMap<JsonSchema, z.ZodType>();

function validatorFor(schema: JsonSchema): z.ZodType {
  let validator = compiled.get(schema);
  if (!validator) {
    try {
      validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (error) {
      throw new InvalidRequestError(`The step's JSON schema cannot be used to check replies: ${(error as Error).message}`, {});
    }
    compiled.set(schema, validator);
  }
  return validator;
}

export function schemaProblems(schema: JsonSchema, value: unknown): string[] {
  const result = validatorFor(schema).safeParse(value);
  if (result.success) return [];
  return result.error.issues.slice(0, 5).map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`);
}
