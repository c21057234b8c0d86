import { ConfigErrors } from '../errors/config-error.js';
import { isGenbatchError } from '../errors/genbatch-error.js';
import { line, type CliIO } from './io.js';

/** Prints an error as sentences (what happened, what to do) and returns the exit code. */
export function renderError(error: unknown, io: CliIO): number {
  if (isGenbatchError(error)) {
    if (error instanceof ConfigErrors && error.problems.length > 1) {
      line(io.stderr, `error: ${error.problems.length} problems found; nothing was sent:`);
      for (const problem of error.problems) line(io.stderr, `  - ${problem.message}${problem.hint ? `\n    ${problem.hint}` : ''}`);
    } else {
      const only = error instanceof ConfigErrors ? (error.problems[0] ?? error) : error;
      line(io.stderr, `error: ${only.message}`);
      if (only.hint) line(io.stderr, `hint: ${only.hint}`);
    }
    return error.exitCode;
  }
  line(io.stderr, `genbatch crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  line(io.stderr, 'This is a bug; the state file is consistent and `genbatch resume` continues where it stopped.');
  return 1;
}
