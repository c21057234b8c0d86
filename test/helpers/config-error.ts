import { expect } from 'vitest';
import { ConfigError } from '../../src/errors/config-error.js';

/** The ConfigError `run` throws (the test fails when it throws nothing, or something else). */
export function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}
