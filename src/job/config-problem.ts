import { ConfigError } from '../errors/config-error.js';
import { displayPath } from './display-path.js';
import type { Job } from './job.js';

/**
 * A key path: as the parser walks the file (`['steps', 0, 'prompt']`), or as a check after compiling
 * names it (`'steps.hero.model'`, steps by name).
 */
export type KeyPath = string | readonly PropertyKey[];

/** A key path as messages show it: `steps[0].prompt`, `steps.hero.params.size`, `(top level)`. */
export function formatKeyPath(path: KeyPath): string {
  if (typeof path === 'string') return path || '(top level)';
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out || '(top level)';
}

/** The file a problem is in, and how to find the line of a key path in it. */
export interface ProblemSource {
  /** The file as the error carries it. */
  file: string;
  /** The file as the message shows it; default `file`. */
  shown?: string;
  /** The line of the key at `keyPath`; with `snippet`, the line inside its value where the snippet is written. */
  lineOf?: (keyPath: KeyPath, snippet?: string) => number | undefined;
}

export interface ProblemDetails {
  /** Text inside the key's value: the line named is the one it is written on (a multi-line prompt). */
  snippet?: string;
  code?: string;
  /** The key the error carries for --json, when it is not the one whose line is named. */
  keyPath?: string;
}

/** Makes the error for one problem: `file:line: key.path: message`, with its hint. */
export type Problem = (keyPath: KeyPath, message: string, hint?: string, details?: ProblemDetails) => ConfigError;

/**
 * The one way a problem in a job, credentials or emulator config file is reported: the file, the line
 * of the key (when the file's positions are known), the key path, what is wrong, and what to do.
 * Bad input exits 2 (ConfigError).
 */
export function problemsIn(source: ProblemSource): Problem {
  const shown = source.shown ?? source.file;
  return (keyPath, message, hint, details = {}) => {
    const key = formatKeyPath(keyPath);
    const line = source.lineOf?.(keyPath, details.snippet);
    return new ConfigError(`${line === undefined ? shown : `${shown}:${line}`}: ${key}: ${message}`, {
      file: source.file,
      ...(line === undefined ? {} : { line }),
      keyPath: details.keyPath ?? key,
      ...(hint === undefined ? {} : { hint }),
      ...(details.code === undefined ? {} : { code: details.code }),
    });
  };
}

/** The problem helper of a compiled job: lines come from the job file's key paths (job.lines, steps by name). */
export function jobProblem(job: Job): Problem {
  return problemsIn({ file: job.file, shown: displayPath(job.file), lineOf: (keyPath) => job.lines?.[formatKeyPath(keyPath)] });
}
