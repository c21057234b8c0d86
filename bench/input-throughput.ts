import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const RUN_TS = join(REPO, 'bin', 'run-ts.js');
/** Set in the child process: which pass to run, over which file. */
const CHILD_ENV = 'GENBATCH_INPUT_BENCH_PASS';
const ROWS = 1_000_000;

const WORDS = [
  'cache',
  'queue',
  'retry',
  'deploy',
  'kubernetes',
  'postgres',
  'latency',
  'budget',
  'quota',
  'index',
  'stream',
  'shard',
  'replica',
  'token',
  'schema',
  'backoff',
];

/** A blog-export-like CSV: id, title, slug, summary (quoted when it holds commas or quotes), date. */
async function writeCsv(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  let seed = 42;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const word = (): string => WORDS[next(WORDS.length)]!;
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write('id,title,slug,summary,published\n');
  const batch: string[] = [];
  for (let i = 1; i <= rows; i++) {
    const a = word();
    const b = word();
    const title = `${a[0]!.toUpperCase()}${a.slice(1)} and ${b} in practice`;
    const slug = `${a}-${b}-${i}`;
    const kind = next(4);
    // A quarter of the summaries hold commas, one in sixteen a doubled quote: both need quoting.
    const summary =
      kind === 0
        ? `"How ${a}, ${b} and ${word()} fit together, with examples."`
        : kind === 1 && next(4) === 0
          ? `"Why ""${a}"" beats ${b}"`
          : `Notes on ${a} for ${b} teams`;
    const date = `2024-${String(1 + next(12)).padStart(2, '0')}-${String(1 + next(28)).padStart(2, '0')}`;
    batch.push(`${i},${title},${slug},${summary},${date}\n`);
    if (batch.length === 10_000) {
      await write(batch.join(''));
      batch.length = 0;
    }
  }
  await write(batch.join(''));
  out.end();
  await once(out, 'finish');
}

interface PassFigures {
  rows: number;
  seconds: number;
  peak_rss_mb: number;
}

/** Runs one pass in a fresh Node process, so its peak RSS is that of the pass alone. */
async function runChild(pass: 'inspect' | 'validate', file: string): Promise<PassFigures> {
  const child = spawn(process.execPath, [RUN_TS, SELF], { env: { ...process.env, [CHILD_ENV]: `${pass}:${file}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`the ${pass} pass failed (exit ${code}): ${stderr.slice(-500)}`);
  return JSON.parse(stdout.trim().split('\n').pop()!) as PassFigures;
}

/** The child's side: one pass, then its figures as one JSON line. */
async function childPass(spec: string): Promise<void> {
  const [pass, ...rest] = spec.split(':');
  const file = rest.join(':');
  const { inspectInput, validateInput } = await import('../src/input/index.js');
  const started = process.hrtime.bigint();
  const result = pass === 'inspect' ? await inspectInput(file) : await validateInput({ file });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const problems = 'problem_count' in result ? result.problem_count : result.problemCount;
  if (problems !== 0) throw new Error(`the generated file has ${problems} problems`);
  // maxRSS is in kilobytes: the high-water mark of the whole process, start-up included.
  const figures: PassFigures = { rows: result.rows, seconds, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) };
  console.log(JSON.stringify(figures));
}

/**
 * Inspect and validate over a generated 1,000,000-row CSV (5 columns, a quarter of the rows with
 * quoted commas), each in its own child process: rows per second, and the peak RSS of the process
 * doing the pass (target: under 200 MB whatever the file size, since every pass streams).
 */
export async function inputThroughput(): Promise<Record<string, string | number>> {
  const dir = await mkdtemp(join(tmpdir(), 'genbatch-input-bench-'));
  try {
    const file = join(dir, 'posts.csv');
    await writeCsv(file, ROWS);
    const size = (await stat(file)).size;
    const inspect = await runChild('inspect', file);
    const validate = await runChild('validate', file);
    for (const [name, figures] of [
      ['inspect', inspect],
      ['validate', validate],
    ] as const) {
      if (figures.rows !== ROWS) throw new Error(`${name} counted ${figures.rows} rows, expected ${ROWS}`);
    }
    return {
      scenario: `${ROWS.toLocaleString('en')}-row CSV, 5 columns, ${(size / 1024 / 1024).toFixed(0)} MB; each pass in its own process`,
      inspect_rows_per_second: Math.round(ROWS / inspect.seconds),
      validate_rows_per_second: Math.round(ROWS / validate.seconds),
      inspect_peak_rss_mb: inspect.peak_rss_mb,
      validate_peak_rss_mb: validate.peak_rss_mb,
      peak_rss_mb: Math.max(inspect.peak_rss_mb, validate.peak_rss_mb),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const spec = process.env[CHILD_ENV];
if (spec !== undefined) await childPass(spec);
