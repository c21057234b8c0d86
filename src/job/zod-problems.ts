import type { z } from 'zod';
import type { ConfigError } from '../errors/config-error.js';
import { nearestName } from '../errors/suggest-name.js';
import type { Problem } from './config-problem.js';

export interface ZodProblemOptions {
  /** The file's problem helper (it finds the lines). */
  problem: Problem;
  /** The keys valid in the object at `path`, to name the nearest to an unknown key. */
  validKeys(path: readonly PropertyKey[]): readonly string[];
  /** Key paths as shown: a secret in a path (an API key used as a key) is redacted here. */
  shownPath?: (path: readonly PropertyKey[]) => readonly PropertyKey[];
  /** The file may hold secrets: a message never echoes a value from it. */
  secret?: boolean;
  /** What a value that fits none of a key's forms is told. Default: zod's message. */
  union?: string;
}

/**
 * The one translation of zod's issues (job file, credentials file, emulator config) into sentences
 * naming the file, line and key path, with the nearest valid key for an unknown one.
 */
export function zodProblems(error: z.ZodError, options: ZodProblemOptions): ConfigError[] {
  const shown = options.shownPath ?? ((path) => path);
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const valid = options.validKeys(issue.path);
      return issue.keys.map((key) => {
        const suggestion = nearestName(key, valid);
        return options.problem(
          shown([...issue.path, key]),
          `unknown key "${key}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
          valid.length > 0 ? `Valid keys here: ${valid.join(', ')}.` : undefined,
        );
      });
    }
    const message = issue.code === 'invalid_union' && options.union !== undefined ? options.union : issue.message;
    return [options.problem(shown(issue.path), options.secret ? message.replace(/received .*/, 'received an invalid value') : message)];
  });
}
