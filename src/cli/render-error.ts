import { PLACEHOLDER_KEY } from '../credentials/placeholder-key.js';
import { ConfigError, ConfigErrors } from '../errors/config-error.js';
import { isGenbatchError } from '../errors/genbatch-error.js';
import { line, type CliIO } from './io.js';

/** Commands that take --emulator, where a placeholder key is the sign of a job meant for the emulator. */
const EMULATED_COMMANDS = new Set(['run', 'resume', 'estimate', 'validate', 'review']);

/** An argument as a shell reads it back (quoted only when it must be). */
const shellWord = (word: string): string => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/** The command the person typed, with --emulator added: what rehearses a job whose keys are placeholders. */
function withEmulator(argv: readonly string[]): string | undefined {
  const [command] = argv;
  if (command === undefined || !EMULATED_COMMANDS.has(command) || argv.includes('--emulator')) return undefined;
  return `genbatch ${[...argv, '--emulator'].map(shellWord).join(' ')}`;
}

/**
 * Prints an error as sentences (what happened, what to do) and returns the exit code. `argv` (the
 * command line after `genbatch`) lets a hint give the exact command to type instead of a flag to add.
 */
export function renderError(error: unknown, io: CliIO, argv: readonly string[] = []): number {
  if (isGenbatchError(error)) {
    const problems: ConfigError[] = error instanceof ConfigErrors ? error.problems : error instanceof ConfigError ? [error] : [];
    // Placeholder keys (the examples' `api_key: emulator`): one hint with the command to type, not one per project.
    const rehearse = problems.some((p) => p.code === PLACEHOLDER_KEY) ? withEmulator(argv) : undefined;
    const hintOf = (problem: { code: string; hint?: string | undefined }): string | undefined =>
      rehearse !== undefined && problem.code === PLACEHOLDER_KEY ? undefined : problem.hint;
    if (error instanceof ConfigErrors && problems.length > 1) {
      line(io.stderr, `error: ${problems.length} problems found; nothing was sent:`);
      for (const problem of problems) {
        const hint = hintOf(problem);
        line(io.stderr, `  - ${problem.message}${hint ? `\n    ${hint}` : ''}`);
      }
    } else {
      const only = error instanceof ConfigErrors ? (problems[0] ?? error) : error;
      const hint = hintOf(only);
      line(io.stderr, `error: ${only.message}`);
      if (hint) line(io.stderr, `hint: ${hint}`);
    }
    if (rehearse !== undefined)
      line(
        io.stderr,
        `hint: placeholder keys (like the examples' api_key: emulator) are for the built-in emulator. Rehearse offline with:\n  ${rehearse}\n  or give the project(s) real credentials: api_key_env, key_file or adc: true (docs/credentials.md).`,
      );
    return error.exitCode;
  }
  line(io.stderr, `genbatch crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  line(io.stderr, 'This is a bug; the state file is consistent and `genbatch resume` continues where it stopped.');
  return 1;
}
