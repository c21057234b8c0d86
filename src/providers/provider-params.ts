import { InvalidRequestError } from '../errors/provider-errors.js';
import { nearestName } from '../errors/suggest-name.js';

/**
 * Task parameters as written in the job file (snake_case). Unknown or mistyped parameters are
 * refused before anything is sent, naming the nearest valid one.
 */
export class ProviderParams {
  constructor(
    private readonly params: Record<string, unknown>,
    private readonly known: readonly string[],
    private readonly what: string,
  ) {
    for (const name of Object.keys(params)) {
      if (!known.includes(name)) {
        const suggestion = nearestName(name, known);
        throw new InvalidRequestError(
          `Unknown parameter "${name}" for ${what}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}. Valid parameters: ${known.join(', ') || 'none'}.`,
          {},
        );
      }
    }
  }

  number(name: string): number | undefined {
    const value = this.params[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw this.wrongType(name, 'a number', value);
    return value;
  }

  string(name: string): string | undefined {
    const value = this.params[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.wrongType(name, 'a string', value);
    return value;
  }

  boolean(name: string): boolean | undefined {
    const value = this.params[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw this.wrongType(name, 'true or false', value);
    return value;
  }

  stringList(name: string): string[] | undefined {
    const value = this.params[name];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw this.wrongType(name, 'a list of strings', value);
    return value as string[];
  }

  private wrongType(name: string, expected: string, value: unknown): InvalidRequestError {
    return new InvalidRequestError(`Parameter "${name}" for ${this.what} must be ${expected}, got ${JSON.stringify(value)}.`, {});
  }
}
