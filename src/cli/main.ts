import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { processIO, type CliIO } from './io.js';
import { renderError } from './render-error.js';
// Each command's module is imported when that command runs, not before parsing: they pull in the SDK, SQLite, sharp,
// zod, prom-client and the emulator, and `genbatch --version` or `--help` needs none of them.
import type { RunFlags } from './commands/run.js';
import type { ReviewFlags } from './commands/review.js';
import type { RejectFlags } from './commands/reject.js';
import type { CacheAction, CacheFlags } from './commands/cache.js';

const fmt = (n: number): string => n.toLocaleString('en-US');

/** A whole number in a range; the message gives the range (commander names the flag). */
function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a whole number from ${fmt(min)} to ${fmt(max)}.`);
    return n;
  };
}

const positiveInt = wholeNumber(1, 1_000_000_000);
const port = wholeNumber(1, 65_535);
/** Items run for real by a pilot, or shown by preview: a sample, not the job. */
const sampleSize = wholeNumber(1, 10_000);

/** A budget in USD: above 0, at most the job file's own limit for amounts (budget.max_usd). */
function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1_000_000)
    throw new InvalidArgumentError('expected an amount in USD above 0 and at most 1,000,000, like 25 or 2.50.');
  return n;
}

/** Builds the command line. Commands return exit codes; errors are rendered once, here. */
export function buildProgram(io: CliIO, setExit: (code: number) => void, argv: readonly string[] = []): Command {
  const program = new Command('genbatch')
    .description('Resumable, quota-aware, budget-capped generation jobs on Google Vertex AI.')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  const wrap =
    <A extends unknown[]>(fn: (...args: A) => Promise<number> | number) =>
    async (...args: A): Promise<void> => {
      try {
        setExit(await fn(...args));
      } catch (error) {
        setExit(renderError(error, io, argv));
      }
    };

  const runOptions = (cmd: Command): Command =>
    cmd
      .option('--emulator', 'run against an in-process Vertex AI emulator (no Google account, nothing billed)')
      .option('--yes', 'do not ask for confirmation')
      .addOption(new Option('--limit <n>', 'only the first N items with work left').argParser(positiveInt))
      .option('--json', 'print a machine-readable summary on stdout')
      .option('--redo-stale', 'redo done items whose input row or templates changed since')
      .option('--accept-changes', 'accept an edit that redoes finished work (a changed input.id, a renamed step without renamed_from)')
      .option('--plain', 'plain progress lines even on a terminal')
      .option('--no-wait', 'submit batch jobs (steps in mode batch) and exit 0 without waiting for them; the next run collects them')
      .option('--strict', 'exit 1 while any failed item is left, not only in the run where it failed')
      .option('--no-cache', 'answer every request with a call: do not read or fill the response cache (docs/cache.md)')
      .option('--log <file>', 'write the run log (JSON lines) here instead of .genbatch/logs/<job>-<run>.jsonl')
      .addOption(new Option('--metrics-port <n>', 'serve Prometheus metrics on 127.0.0.1:N/metrics during the run').argParser(port))
      .option('--metrics-file <file>', 'keep Prometheus metrics in this file (node_exporter textfile collector)')
      .option('--notify <url>', "POST a JSON summary here when the run ends (default: the job's notify:)")
      .option('--notify-template <json>', 'POST this JSON instead, with {{placeholders}}')
      .addOption(
        new Option('--budget <usd>', "cap on this run's spend (overrides budget.per_run_usd; budget.max_usd still caps all runs)").argParser(positiveNumber),
      )
      .addOption(new Option('--pilot <n>', 'run N items for real first, re-estimate, then ask again').argParser(sampleSize));

  runOptions(
    program.command('run').argument('<job>', 'job file (YAML or JSON)').description('validate, then process every item; resumes automatically if state exists'),
  )
    .option('--fresh-state', 'if the state file is damaged, move it aside and start over (every item is done and paid for again)')
    .action(wrap(async (job: string, flags: RunFlags) => (await import('./commands/run.js')).runCommand(job, flags, io)));
  runOptions(program.command('resume').argument('<job>').description('continue a stopped run (refuses to start a fresh one)')).action(
    wrap(async (job: string, flags: RunFlags) => (await import('./commands/run.js')).runCommand(job, { ...flags, resumeOnly: true }, io)),
  );
  program
    .command('cancel')
    .argument('<job>')
    .description("cancel the job's Vertex AI batch jobs still running; their unanswered items go back to pending")
    .action(wrap(async (job: string) => (await import('./commands/cancel.js')).cancelCommand(job, io)));
  program
    .command('status')
    .argument('<job>')
    .option('--json', 'print one JSON object on stdout')
    .description('counts by state and step, cost so far, failures with reasons, last run')
    .action(wrap(async (job: string, flags: { json?: boolean }) => (await import('./commands/status.js')).statusCommand(job, flags, io)));
  program
    .command('validate')
    .argument('<job>')
    .option('--emulator', 'do not require real key files or API key variables')
    .description('check the job file, credentials and input without any API call')
    .action(wrap(async (job: string, flags: { emulator?: boolean }) => (await import('./commands/validate.js')).validateCommand(job, flags, io)));
  program
    .command('inspect')
    .argument('<file>', 'input file')
    .option('--json', 'print one JSON object on stdout')
    .option('--encoding <name>', 'read the file in this encoding (windows-1252, latin1, utf-16le...), as input.encoding does')
    .description('detect encoding, delimiter, quoting, header and problem rows of an input file')
    .action(
      wrap(async (file: string, flags: { json?: boolean; encoding?: string }) => (await import('./commands/inspect.js')).inspectCommand(file, flags, io)),
    );
  program
    .command('repair')
    .argument('<file>', 'input file')
    .requiredOption('--out <file>', 'where to write the repaired file')
    .option('--encoding <name>', 'read the file in this encoding (windows-1252, latin1, utf-16le...); the copy is UTF-8')
    .description('write a clean copy of an input file with problem rows repaired and correct quoting')
    .action(wrap(async (file: string, flags: { out: string; encoding?: string }) => (await import('./commands/repair.js')).repairCommand(file, flags, io)));
  program
    .command('retry')
    .argument('<job>')
    .option('--failed', 'retry every failed step')
    .option('--ids <ids...>', 'retry these items')
    .option('--step <name>', 'from this step on')
    .option('--rejected', 'redo the outputs rejected with genbatch reject')
    .description('put failed, rejected or chosen items back to pending')
    .action(
      wrap(async (job: string, flags: { failed?: boolean; ids?: string[]; step?: string; rejected?: boolean }) =>
        (await import('./commands/retry.js')).retryCommand(job, flags, io),
      ),
    );
  program
    .command('review')
    .argument('<job>')
    .option('--out <file>', 'where to write the page')
    .option('--no-thumbnails', 'link outputs without thumbnails')
    .option('--serve', 'serve an interactive gallery on 127.0.0.1 (approve, reject, regenerate)')
    .addOption(new Option('--port <n>', 'port for --serve (default: a free one)').argParser(port))
    .option('--emulator', '--serve: regenerate against the in-process emulator')
    .description('write a static HTML gallery of every item and print its path, or serve an interactive one')
    .action(wrap(async (job: string, flags: ReviewFlags) => (await import('./commands/review.js')).reviewCommand(job, flags, io)));
  program
    .command('reject')
    .argument('<job>')
    .argument('<ids...>')
    .option('--note <text>', 'why')
    .option('--step <name>', 'from this step on (default: every step)')
    .option('--undo', 'take the rejection back')
    .description('mark done outputs as rejected; retry --rejected redoes them')
    .action(wrap(async (job: string, ids: string[], flags: RejectFlags) => (await import('./commands/reject.js')).rejectCommand(job, ids, flags, io)));
  program
    .command('emulator')
    .addOption(new Option('--port <n>', 'port on 127.0.0.1').argParser(port).default(8790))
    .option('--config <file>', 'quotas, latency and faults (YAML or JSON)')
    .description('serve a local Vertex AI stand-in with quotas, latency and faults')
    .action(wrap(async (flags: { port: number; config?: string }) => (await import('./commands/emulator.js')).emulatorCommand(flags, io)));
  program
    .command('estimate')
    .argument('<job>')
    .option('--json', 'print one JSON object on stdout')
    .addOption(new Option('--pilot <n>', 'run N items for real (they count as done), then re-estimate the rest').argParser(sampleSize))
    .option('--emulator', 'with --pilot: run the pilot against the in-process emulator')
    .option('--yes', 'with --pilot: do not ask for confirmation')
    .description('cost and time estimate without spending (or with a pilot of N items)')
    .action(
      wrap(async (job: string, flags: { json?: boolean; pilot?: number; emulator?: boolean; yes?: boolean }) =>
        (await import('./commands/estimate.js')).estimateCommand(job, flags, io),
      ),
    );
  program
    .command('cost')
    .argument('[job]')
    .option('--json', 'print one JSON object on stdout')
    .option('--csv', 'print CSV on stdout')
    .option('--all <credentials>', "today's spend of every job using this credentials file, per job and project")
    .description('spend by step, model, project and day, from the ledger (or, with --all, of every job sharing a credentials file)')
    .action(
      wrap(async (job: string | undefined, flags: { json?: boolean; csv?: boolean; all?: string }) =>
        (await import('./commands/cost.js')).costCommand(job, flags, io),
      ),
    );
  const cache = program.command('cache').description('the response cache shared by every job (GENBATCH_CACHE_DIR): stats, clear, prune');
  const cacheAction = (action: CacheAction) => wrap(async (flags: CacheFlags) => (await import('./commands/cache.js')).cacheCommand(action, flags, io));
  cache.command('stats').option('--json', 'print one JSON object on stdout').description('entries, size, cap, hit rate').action(cacheAction('stats'));
  cache
    .command('clear')
    .option('--json', 'print one JSON object on stdout')
    .description('remove every entry (or a damaged cache file)')
    .action(cacheAction('clear'));
  cache
    .command('prune')
    .option('--max-size <size>', 'evict least recently used entries down to this size (500MB, 2GB; default: the cap)')
    .option('--older-than <duration>', 'evict entries unused for this long (30d, 12h)')
    .option('--json', 'print one JSON object on stdout')
    .description('evict least recently used or old entries, remove orphan files')
    .action(cacheAction('prune'));
  program
    .command('preview')
    .argument('<job>')
    .addOption(new Option('--n <n>', 'how many items').argParser(sampleSize).default(5))
    .option('--json', 'print the prompts as JSON on stdout')
    .description('print the first N rendered prompts of every step, exactly as they will be sent')
    .action(wrap(async (job: string, flags: { n: number; json?: boolean }) => (await import('./commands/preview.js')).previewCommand(job, flags, io)));
  program
    .command('init')
    .argument('<example>', 'an example job of the package (blog-hero-images, catalogue-alt-text, …)')
    .argument('[dir]', 'where to copy it (default: the current folder)')
    .description('copy an example job, its input and the emulator credentials into a folder of yours; never overwrites')
    .action(wrap(async (example: string, dir: string | undefined) => (await import('./commands/init.js')).initCommand(example, dir, io)));
  program
    .command('schema')
    .description('print the JSON Schema of job files (for editor completion)')
    .action(wrap(async () => (await import('./commands/schema.js')).schemaCommand(io)));
  return program;
}

export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(
    io,
    (code) => {
      exitCode = code;
    },
    argv,
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; a bad flag or argument is bad input: exit 2.
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? 0 : 2;
    }
    return renderError(error, io);
  }
  return exitCode;
}
