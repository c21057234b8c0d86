import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { parseEmulatorConfig, startEmulator, type EmulatorConfigInput, type RunningEmulator } from '../src/emulator/index.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'bin', 'genbatch.js');

const ITEMS = 1000;
const REGENERATE = 2;
const PILOT = 50;

/** Each job's runs get a response cache of their own (in its folder): the faulty job must not be answered by the baseline's replies. */
function runChild(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, GENBATCH_CACHE_DIR: join(cwd, 'cache') };
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The job: a text step checked by words, not_contains and a Flash-Lite judge; regenerate 2, then review. */
function writeJob(dir: string, emulator: RunningEmulator, maxUsd: number): string {
  const rows = Array.from({ length: ITEMS }, (_, i) => `p${i},Product ${i},"A sturdy everyday object, model ${i}, in oak and steel"`);
  writeFileSync(join(dir, 'items.csv'), `sku,name,notes\n${rows.join('\n')}\n`);
  writeFileSync(
    join(dir, 'credentials.yaml'),
    `projects:\n  - { name: shop, project: shop, location: us-central1, api_key: bench, endpoint: "${emulator.url}" }\n`,
  );
  const job = join(dir, 'job.yaml');
  writeFileSync(
    job,
    `version: 1
name: quality-bench
input: { file: items.csv, id: sku }
credentials: credentials.yaml
steps:
  - name: describe
    task: text
    model: gemini-2.5-flash
    prompt: "A product description of 40 to 80 words. Product: {{name}}. Notes: {{notes}}"
    max_output_tokens: 600
    checks:
      - words: { min: 20 }
      - not_icontains: ["as an AI language model"]
      - judge: { model: gemini-2.5-flash-lite, rubric: "Specific to the notes and free of filler.", min_score: 4 }
    on_fail: { regenerate: ${REGENERATE}, then: review }
limits: { concurrency: 16 }
budget: { max_usd: ${maxUsd}, confirm_above_usd: 1000 }
`,
  );
  return job;
}

/** 20% of first drafts fail `words` or `not_contains`, 10% carry the judge's marker (and score low). */
function faults(on: boolean): EmulatorConfigInput {
  return {
    seed: 28,
    latency_ms: 0,
    models: {
      'gemini-2.5-flash': {
        output_tokens: { mean: 110, sd: 15 },
        ...(on
          ? {
              check_faults: {
                too_short: { rate: 0.1, words: 8 },
                phrases: [
                  { rate: 0.1, text: 'As an AI language model,' },
                  { rate: 0.1, text: '[weak]' },
                ],
              },
            }
          : {}),
      },
      'gemini-2.5-flash-lite': { judge: { marker: '[weak]', low: 2, high: 5 } },
    },
  };
}

async function spent(job: string, dir: string): Promise<number> {
  const cost = await runChild(['cost', job, '--json'], dir);
  return (JSON.parse(cost.stdout) as { total_usd: number }).total_usd;
}

/**
 * Issue 28's benchmark: a 1,000-item text job where the emulator fails 20% of first drafts on
 * `words`/`not_contains` and 10% on a judge, with `regenerate: 2, then: review`, against the same job
 * with no failures: the share of items passing every check, the most regenerations of an item, the
 * spend ratio, the estimate after a 50-item pilot against the final spend, and the cap.
 */
export async function quality(): Promise<Record<string, string | number>> {
  const base = await startEmulator(parseEmulatorConfig(faults(false)), { port: 0 });
  const faulty = await startEmulator(parseEmulatorConfig(faults(true)), { port: 0 });
  const dirs = [mkdtempSync(join(tmpdir(), 'genbatch-bench-q-')), mkdtempSync(join(tmpdir(), 'genbatch-bench-q-'))] as const;
  try {
    // The same job with no failures: what checks cost when nothing fails (one judge per item).
    const baseJob = writeJob(dirs[0], base, 100);
    const baseRun = await runChild(['run', baseJob, '--yes'], dirs[0]);
    if (baseRun.code !== 0) throw new Error(`baseline run exited ${baseRun.code}: ${baseRun.stderr.slice(-400)}`);
    const baseUsd = await spent(baseJob, dirs[0]);

    // The cap: 1.5x the spend without failures (at 1.35x, the bound, the run stops for the
    // budget a few items short: 28% of asks fail, so an item takes 1.36 attempts on average).
    const capUsd = Math.round(baseUsd * 1.5 * 1e6) / 1e6;
    const job = writeJob(dirs[1], faulty, capUsd);
    const t0 = Date.now();
    const pilot = await runChild(['estimate', job, '--pilot', String(PILOT), '--yes', '--json'], dirs[1]);
    if (pilot.code !== 0) throw new Error(`pilot exited ${pilot.code}: ${pilot.stderr.slice(-400)}`);
    const estimate = JSON.parse(pilot.stdout) as { total_usd: { low: number; expected: number; high: number } };
    const run = await runChild(['run', job, '--yes'], dirs[1]);
    const seconds = (Date.now() - t0) / 1000;
    const finalUsd = await spent(job, dirs[1]);
    const status = JSON.parse((await runChild(['status', job, '--json'], dirs[1])).stdout) as {
      counts: Record<string, number>;
      check_outcomes: Record<string, Record<string, number>>;
      checks: Record<string, { passed: number; failed: number }>;
    };
    const outcomes = status.check_outcomes.describe ?? {};
    const db = new Database(join(dirs[1], '.genbatch', 'quality-bench.db'), { readonly: true });
    const most = (db.prepare('SELECT max(check_attempts) AS n FROM item_steps').get() as { n: number }).n;
    const firstFailed = (db.prepare('SELECT count(DISTINCT item_id) AS n FROM check_attempts').get() as { n: number }).n;
    db.close();
    return {
      scenario: `${ITEMS} text items; 20% of drafts fail words/not_contains, 10% a judge; regenerate ${REGENERATE}, then review`,
      exit_code: run.code ?? -1,
      passing_share: Number((((outcomes.passed ?? 0) + (outcomes.regenerated ?? 0)) / ITEMS).toFixed(4)),
      outcomes: JSON.stringify(outcomes),
      first_drafts_failed: firstFailed,
      most_regenerations_of_an_item: most,
      spend_usd: finalUsd,
      spend_without_failures_usd: baseUsd,
      spend_ratio: Number((finalUsd / baseUsd).toFixed(3)),
      estimate_with_pilot_usd: estimate.total_usd.expected,
      estimate_error: Number(((estimate.total_usd.expected - finalUsd) / finalUsd).toFixed(3)),
      cap_usd: capUsd,
      cap_held: finalUsd <= capUsd ? 'yes' : 'NO',
      seconds: Math.round(seconds * 10) / 10,
    };
  } finally {
    await Promise.all([base.close(), faulty.close()]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
