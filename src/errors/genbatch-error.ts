/**
 * Every error genbatch raises on purpose. `code` is stable (scripts and the state file rely on it),
 * `retryable` tells the scheduler whether another attempt can help, `hint` tells the person what to do.
 */
export interface GenbatchErrorOptions {
  code: string;
  retryable?: boolean;
  hint?: string;
  cause?: unknown;
  /** Exit code the CLI uses when this error ends the command. */
  exitCode?: number;
}

export class GenbatchError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(message: string, options: GenbatchErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retryable = options.retryable ?? false;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

export function isGenbatchError(value: unknown): value is GenbatchError {
  return value instanceof GenbatchError;
}
