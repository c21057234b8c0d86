import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import type { renderStep as RenderStep } from '../src/engine/render-step.js';
import type { loadJob as LoadJob } from '../src/job/load-job.js';
import type { StateStore as Store } from '../src/store/state-store.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** The CLI to measure (GENBATCH_BENCH_BIN: another build of it, e.g. to compare before and after). */
const BIN = process.env.GENBATCH_BENCH_BIN ?? join(REPO, 'bin', 'genbatch.js');
/** The modules the bench fills the state with come from that same build, so the state is the one it understands. */
const LIB = process.env.GENBATCH_BENCH_BIN ? pathToFileURL(join(dirname(BIN), '..', 'dist')).href : new URL('../src', import.meta.url).href;
const ROWS = Number(process.env.GENBATCH_MILLION_ROWS ?? 1_000_000);
/** Items left for the resume to do. */
const LEFT = 10;

const WORDS = ['cache', 'queue', 'retry', 'deploy', 'kernel', 'postgres', 'latency', 'budget', 'quota', 'index', 'stream', 'shard', 'replica', 'token'];

/** id, title, body: about 80 bytes a row. */
async function writeCsv(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const word = (): string => WORDS[next(WORDS.length)] ?? 'ops';
  out.write('id,title,body\n');
  let batch: string[] = [];
  for (let i = 1; i <= rows; i++) {
    batch.push(`r${i},${word()} and ${word()} notes,How we run ${word()} with ${word()} for ${word()} teams (${i})\n`);
    if (batch.length === 10_000) {
      if (!out.write(batch.join(''))) await once(out, 'drain');
      batch = [];
    }
  }
  out.write(batch.join(''));
  out.end();
  await once(out, 'finish');
  // On disk before anything is measured, as an input file at rest is (its write-back would slow the run).
  const handle = await open(file, 'r');
  await handle.sync();
  await handle.close();
}

/** The high-water mark of a process's resident memory, in MB (undefined once it has exited). */
function peakRssMb(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface Measured {
  /** From spawning the CLI to the emulator's first logged request of this run. */
  firstCallS: number | undefined;
  peakRssMb: number;
  /** From spawning to exit (or kill). */
  totalS: number;
  code: number | null;
  stderr: string;
}

/**
 * Runs the real CLI as a child process; polls its VmHWM; the first call is the emulator's first
 * logged request after the spawn. With `killAfterFirstCallMs`, SIGKILLs it that long after (the
 * state is resumable); else lets it finish.
 */
async function measureCli(args: string[], cwd: string, emulator: RunningEmulator, killAfterFirstCallMs?: number): Promise<Measured> {
  const before = emulator.log().length;
  const spawnedAt = Date.now();
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let peak = 0;
  let firstAt: number | undefined;
  let killAt: number | undefined;
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    peak = Math.max(peak, peakRssMb(child.pid ?? -1) ?? 0);
    if (firstAt === undefined) {
      const log = emulator.log();
      if (log.length > before) {
        firstAt = log.find((entry) => entry.at >= spawnedAt)?.at;
        if (firstAt !== undefined && killAfterFirstCallMs !== undefined) killAt = Date.now() + killAfterFirstCallMs;
      }
    }
    if (killAt !== undefined && Date.now() >= killAt) {
      peak = Math.max(peak, peakRssMb(child.pid ?? -1) ?? 0);
      child.kill('SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const code = await exited;
  return {
    firstCallS: firstAt === undefined ? undefined : (firstAt - spawnedAt) / 1000,
    peakRssMb: Math.round(peak),
    totalS: (Date.now() - spawnedAt) / 1000,
    code,
    stderr,
  };
}

/**
 * Marks every item done but the last LEFT, the way a finished call leaves it: the step's result, its
 * real prompt hash (so staleness stays exact) and one ledger row per call, through the store's own
 * completeStep. A run at the emulator's pace would take hours for a million items; this leaves the
 * same rows (state file size and ledger included) in a fraction of that.
 */
async function markDoneButLast(jobFile: string): Promise<number> {
  const { loadJob } = (await import(`${LIB}/job/load-job.js`)) as { loadJob: typeof LoadJob };
  const { renderStep } = (await import(`${LIB}/engine/render-step.js`)) as { renderStep: typeof RenderStep };
  const { StateStore } = (await import(`${LIB}/store/state-store.js`)) as { StateStore: typeof Store };
  const job = await loadJob(jobFile);
  const step = job.steps[0];
  if (!step) throw new Error('the bench job has no step');
  const store = StateStore.open(job.stateFile);
  try {
    store.recoverAbandoned('bench');
    let left = store.pendingItemCount() - LEFT;
    let cursor = -1;
    let marked = 0;
    while (left > 0) {
      const page = store.pendingItems(cursor, 1000);
      if (page.length === 0) break;
      const writes: Promise<void>[] = [];
      for (const item of page) {
        if (left <= 0) break;
        cursor = item.ord;
        const rendered = renderStep(job, step, { columns: item.values, steps: {}, styles: job.styles });
        const costUsd = 0.0000274;
        // Group-committed, as the engine checkpoints: many completions per transaction.
        writes.push(
          store.commit(() =>
            store.completeStep(
              item.id,
              step.name,
              {
                result: { text: `A one-line summary of ${item.values.title ?? ''}, as a model would write it.` },
                outputs: [],
                promptHash: rendered.promptHash,
                costUsd,
              },
              {
                runId: 'bench-fill',
                itemId: item.id,
                step: step.name,
                project: 'bench-a',
                model: step.model,
                httpStatus: 200,
                inputTokens: 22,
                outputTokens: 18,
                thoughtsTokens: 0,
                images: 0,
                videoSeconds: 0,
                characters: 0,
                costUsd,
                durationMs: 120,
              },
            ),
          ),
        );
        left -= 1;
        marked += 1;
      }
      await Promise.all(writes);
    }
    return marked;
  } finally {
    store.close();
  }
}

const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024);
const s = (seconds: number | undefined): number | string => (seconds === undefined ? 'no call' : Math.round(seconds * 100) / 100);

/**
 * A 1,000,000-row CSV (id, title, body; ~80 bytes a row) and a one-step text job against a
 * zero-latency emulator in this process, through the real CLI: (a) a fresh `run`, SIGKILLed 1 s after
 * its first call: time to first call and peak RSS; (b) every item but 10 marked done through the
 * store (see markDoneButLast); (c) `resume`, run to the end (10 calls, then the 1M-row results file):
 * time to first call, total time and peak RSS; (d) one input row changed, `resume` again: time to
 * first call when the input must be synced and checked for staleness again. Also the state file size.
 */
export async function million(): Promise<Record<string, string | number>> {
  const dir = await mkdtemp(join(tmpdir(), 'genbatch-million-'));
  const emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 0 }), { port: 0 });
  try {
    const csv = join(dir, 'rows.csv');
    await writeCsv(csv, ROWS);
    writeFileSync(
      join(dir, 'credentials.yaml'),
      `projects:\n  - { name: bench-a, project: bench-a, location: us-central1, api_key: bench, endpoint: "${emulator.url}" }\n`,
    );
    const jobFile = join(dir, 'job.yaml');
    writeFileSync(
      jobFile,
      `version: 1
name: million
input: { file: rows.csv, id: id }
credentials: credentials.yaml
steps:
  - name: summary
    task: text
    model: gemini-2.5-flash
    prompt: "Summarise in one line: {{title}}. {{body}}"
    max_output_tokens: 64
    on_truncated: keep
limits: { concurrency: 8, max_attempts: 3 }
results: out/results.csv
`,
    );
    const stateFile = join(dir, '.genbatch', 'million.db');

    const fresh = await measureCli(['run', jobFile, '--yes', '--plain'], dir, emulator, 1000);
    if (fresh.firstCallS === undefined) throw new Error(`the fresh run made no call (exit ${fresh.code}): ${fresh.stderr.slice(-1000)}`);
    const fillStarted = Date.now();
    const marked = await markDoneButLast(jobFile);
    const fillS = (Date.now() - fillStarted) / 1000;

    const resume = await measureCli(['resume', jobFile, '--yes', '--plain'], dir, emulator);
    // A failed resume is reported (with the end of its stderr), not thrown: the figures still say something.
    const resumeError =
      resume.code === 0
        ? ''
        : resume.stderr
            .trim()
            .split('\n')
            .filter((l) => /Error|error:/.test(l))
            .slice(0, 2)
            .join(' / ');
    const stateBytes = statSync(stateFile).size + (existsSync(`${stateFile}-wal`) ? statSync(`${stateFile}-wal`).size : 0);

    // One row changes: the input must be read, synced and checked again; that item is stale (kept).
    const text = readFileSync(csv, 'utf8');
    writeFileSync(csv, text.replace('r2,', 'r2x,').replace(/^r3,([^,]*),/m, 'r3,$1 (edited),'));
    // --no-cache: the new item r2x asks what r2 asked, which the response cache would answer without a
    // call; the point here is the time to the first call after syncing a changed input.
    const changed = await measureCli(['resume', jobFile, '--yes', '--plain', '--no-cache'], dir, emulator, 1000);

    return {
      scenario: `${ROWS.toLocaleString('en')}-row CSV (${mb(statSync(csv).size)} MB), one text step, zero-latency emulator, CLI child process`,
      fresh_first_call_s: s(fresh.firstCallS),
      fresh_peak_rss_mb: fresh.peakRssMb,
      filled_done_items: marked,
      fill_s: Math.round(fillS),
      resume_first_call_s: s(resume.firstCallS),
      resume_total_s: s(resume.totalS),
      resume_peak_rss_mb: resume.peakRssMb,
      resume_exit: resume.code ?? 'killed',
      ...(resumeError ? { resume_error: resumeError.slice(0, 300) } : {}),
      changed_resume_first_call_s: s(changed.firstCallS),
      changed_resume_peak_rss_mb: changed.peakRssMb,
      changed_resume_notice: /Note: \d+ done item\(s\) are stale/.exec(changed.stderr)?.[0] ?? 'none',
      state_file_mb: mb(stateBytes),
    };
  } finally {
    await emulator.close();
    // GENBATCH_MILLION_KEEP=1 keeps the folder (the million-row job and its state) for profiling a resume.
    if (process.env.GENBATCH_MILLION_KEEP) console.error(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}
