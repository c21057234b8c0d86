import { GenbatchError } from './genbatch-error.js';

/**
 * Bad input from the person: job file, credentials file, input data or flags.
 * Always exit 2, raised before anything is spent or overwritten.
 */
export class ConfigError extends GenbatchError {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly keyPath: string | undefined;

  constructor(message: string, options: { code?: string; file?: string; line?: number; keyPath?: string; hint?: string; cause?: unknown } = {}) {
    super(message, {
      code: options.code ?? 'CONFIG_INVALID',
      retryable: false,
      exitCode: 2,
      ...(options.hint === undefined ? {} : { hint: options.hint }),
      cause: options.cause,
    });
    this.file = options.file;
    this.line = options.line;
    this.keyPath = options.keyPath;
  }
}

/** Several problems found in one pass, reported together so the person fixes them all at once. */
export class ConfigErrors extends ConfigError {
  readonly problems: ConfigError[];

  constructor(problems: ConfigError[]) {
    const first = problems[0];
    super(problems.map((p) => p.message).join('\n'), {
      code: first?.code ?? 'CONFIG_INVALID',
      ...(first?.file === undefined ? {} : { file: first.file }),
    });
    this.problems = problems;
  }
}
