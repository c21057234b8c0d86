import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { BRIEF_STEP, IMAGE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Vertex AI batch prediction end to end: the CLI as a child process against an emulator started
 * here, which runs batch jobs through QUEUED → RUNNING → SUCCEEDED with per-line failures and counts
 * every request line submitted (`batch_requests`), apart from online calls.
 */

const BATCH_BRIEF = `${BRIEF_STEP}    mode: batch\n`;
const BATCH_SETTINGS = 'batch: { staging: "gs://staging-bucket/nightly", max_requests: 300, poll: 100ms }';

const totals = (t: TestEmulator): { jobs: number; requests: number; ok: number; input: number; output: number; online: number } => {
  let jobs = 0;
  let requests = 0;
  let ok = 0;
  let input = 0;
  let output = 0;
  let online = 0;
  for (const p of Object.values(t.emu.stats().projects)) {
    jobs += p.batch_jobs;
    requests += p.batch_requests;
    ok += p.batch_ok;
    input += p.batch_input_tokens;
    output += p.batch_output_tokens;
    online += p.requests;
  }
  return { jobs, requests, ok, input, output, online };
};

/** The emulator's batch usage priced at the batch price (the catalog's batch_discount off). */
function batchBilledUsd(t: TestEmulator): number {
  const catalog = PriceCatalog.load();
  let usd = 0;
  for (const p of Object.values(t.emu.stats().projects))
    for (const [model, c] of Object.entries(p.by_model))
      usd += catalog.batchCost(model, { ...emptyUsage(), inputTokens: c.batch_input_tokens, outputTokens: c.batch_output_tokens });
  return usd;
}

const ledger = (stateFile: string): { usd: number; rows: number; unsettled: number } =>
  readStateFile(stateFile, (db) => {
    const row = db.prepare('SELECT coalesce(sum(cost_usd), 0) AS usd, count(*) AS rows, coalesce(sum(settled = 0), 0) AS unsettled FROM ledger').get() as {
      usd: number;
      rows: number;
      unsettled: number;
    };
    return row;
  });

const doneOnce = (stateFile: string): number =>
  readStateFile(stateFile, (db) => (db.prepare("SELECT count(*) AS n FROM item_steps WHERE state = 'done' AND attempts >= 1").get() as { n: number }).n);

describe('Vertex AI batch prediction (mode: batch)', () => {
  const tempDir = useTempDir();
  let t: TestEmulator | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function setup(items: number, batch: Record<string, number>, steps = BATCH_BRIEF): Promise<{ job: string; state: string }> {
    t = await startTestEmulator({ seed: 5, batch: { queue_ms: 40, run_ms: 200, cancel_ms: 50, ...batch } });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), t.url, [{ name: 'p1' }]);
    const job = writeJob(dir, { items, steps, limits: '{ concurrency: 4, max_attempts: 5 }', extra: BATCH_SETTINGS });
    return { job, state: join(dir, '.genbatch', 'quota-job.db') };
  }

  it('runs 1,000 JSON items in 4 batch jobs of at most 300, retries the failed lines in later ones, and bills the batch price', async () => {
    const { job, state } = await setup(1000, { max_requests: 300, line_fail_rate: 0.03 });
    const result = await runCli(['run', job, '--yes', '--plain']);
    expect(result.stderr).toContain('batch job submitted');
    expect(result.code, result.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ done: 1000 });
    const s = totals(t as TestEmulator);
    expect(s.online).toBe(0);
    // 4 jobs for the first submission, then as many as the failed lines need (3% of 1,000: a few dozen lines).
    expect(s.jobs).toBeGreaterThan(4);
    expect(s.jobs).toBeLessThan(10);
    const failedFirst = s.requests - 1000;
    expect(failedFirst).toBeGreaterThan(5);
    expect(failedFirst).toBeLessThan(100);
    // Every item done once: answered lines = items.
    expect(s.ok).toBe(1000);
    expect(doneOnce(state)).toBe(1000);
    const l = ledger(state);
    expect(l.unsettled).toBe(0);
    // One ledger row per settled line (answered or failed).
    expect(l.rows).toBe(s.requests);
    expect(Math.abs(l.usd - batchBilledUsd(t as TestEmulator))).toBeLessThan(0.0001);
    expect(l.usd).toBeGreaterThan(0);
    // status lists each batch job.
    const status = await runCli(['status', job, '--json']);
    const report = JSON.parse(status.stdout) as { batches: { name: string; step: string; project: string; state: string; requests: number }[] };
    expect(report.batches.length).toBe(s.jobs);
    expect(report.batches.every((b) => b.step === 'brief' && b.project === 'p1' && b.name.includes('batchPredictionJobs/'))).toBe(true);
    expect(report.batches.reduce((n, b) => n + b.requests, 0)).toBe(s.requests);
    // The first four (oldest) carried the 1,000 items in chunks of at most 300.
    const firstFour = report.batches.slice(-4).map((b) => b.requests);
    expect(firstFour.sort((a, b) => a - b)).toEqual([100, 300, 300, 300]);
  }, 120_000);

  it('run --no-wait submits and exits 0; the next run collects without submitting again', async () => {
    const { job, state } = await setup(50, { run_ms: 300 });
    const first = await runCli(['run', job, '--yes', '--plain', '--no-wait']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('still running at Vertex AI');
    expect(stepStates(state)).toEqual({ running: 50 });
    expect(totals(t as TestEmulator).requests).toBe(50);
    const second = await runCli(['run', job, '--yes', '--plain']);
    expect(second.code, second.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ done: 50 });
    expect(totals(t as TestEmulator)).toMatchObject({ jobs: 1, requests: 50, ok: 50 });
    expect(Math.abs(ledger(state).usd - batchBilledUsd(t as TestEmulator))).toBeLessThan(0.0001);
  }, 60_000);

  it('kill -9 during submission and during polling, then a resume: the same outcome, no unit submitted twice', async () => {
    const { job, state } = await setup(600, { max_requests: 300, run_ms: 1500 });
    // Killed as soon as the first batch job is in the state (during submission of the next).
    const child = spawnCli(['run', job, '--yes', '--plain']);
    await waitFor(() => batchRows(state) >= 1);
    child.kill('SIGKILL');
    await child.output;
    // Resumed, then killed while polling (every job named, none finished).
    const second = spawnCli(['run', job, '--yes', '--plain']);
    await waitFor(() => namedRows(state) >= 2 || (stepStates(state).done ?? 0) > 0);
    second.kill('SIGKILL');
    await second.output;
    const last = await runCli(['run', job, '--yes', '--plain']);
    expect(last.code, last.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ done: 600 });
    const s = totals(t as TestEmulator);
    expect(s.requests).toBe(600);
    expect(s.ok).toBe(600);
    expect(ledger(state).unsettled).toBe(0);
    expect(Math.abs(ledger(state).usd - batchBilledUsd(t as TestEmulator))).toBeLessThan(0.0001);
  }, 120_000);

  it('an EXPIRED job puts its units back to pending with the reason, and cancel puts running ones back', async () => {
    const { job, state } = await setup(20, { queue_ms: 5000, run_ms: 5000 });
    const first = await runCli(['run', job, '--yes', '--plain', '--no-wait']);
    expect(first.code, first.stderr).toBe(0);
    const expired = (await (await fetch(`${(t as TestEmulator).url}/_emulator/batch/expire`, { method: 'POST', body: '{}' })).json()) as { expired: string[] };
    expect(expired.expired).toHaveLength(1);
    const second = await runCli(['run', job, '--yes', '--plain', '--no-wait']);
    expect(second.stderr).toMatch(/ended EXPIRED: 0 ok, 0 failed; 20 back to pending \(the batch job expired/);
    expect(stepStates(state)).toEqual({ pending: 20 });
    const reasons = readStateFile(state, (db) => db.prepare('SELECT DISTINCT error_code FROM item_steps').pluck().all());
    expect(reasons).toEqual(['BATCH_EXPIRED']);

    // Submitted again, then cancelled.
    const third = await runCli(['run', job, '--yes', '--plain', '--no-wait']);
    expect(third.code, third.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ running: 20 });
    const cancel = await runCli(['cancel', job]);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stderr).toContain('Cancelled 1 batch job(s)');
    expect(stepStates(state)).toEqual({ pending: 20 });
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { batches: { state: string }[] };
    expect(status.batches.map((b) => b.state).sort()).toEqual(['JOB_STATE_CANCELLED (settled)', 'JOB_STATE_EXPIRED (settled)']);
    expect(totals(t as TestEmulator).requests).toBe(40);
  }, 60_000);

  it('validate refuses batch mode for a model batch prediction does not serve, naming the step', async () => {
    const { job } = await setup(
      3,
      {},
      `  - name: picture\n    task: image\n    model: imagen-4.0-generate-001\n    prompt: "{{title}}"\n    output: { file: "img/{{slug}}.png" }\n    mode: batch\n`,
    );
    const result = await runCli(['validate', job]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /job\.yaml:\d+: steps\[0\]\.mode: step "picture" cannot run in mode batch: imagen-4\.0-generate-001 is not served by Vertex AI batch prediction/,
    );
  }, 30_000);

  it('mixed modes: a batch JSON brief step, then an online image step after each brief', async () => {
    const { job, state } = await setup(12, {}, `${BATCH_BRIEF}${IMAGE_STEP}`);
    const result = await runCli(['run', job, '--yes', '--plain']);
    expect(result.code, result.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ done: 24 });
    const s = totals(t as TestEmulator);
    expect(s).toMatchObject({ jobs: 1, requests: 12, ok: 12, online: 12 });
    // Each image was made after its brief.
    const order = readStateFile(state, (db) =>
      db
        .prepare(
          "SELECT count(*) AS n FROM item_steps b JOIN item_steps h ON h.item_id = b.item_id AND h.step = 'hero' WHERE b.step = 'brief' AND h.updated_at >= b.updated_at",
        )
        .get(),
    ) as { n: number };
    expect(order.n).toBe(12);
  }, 60_000);
});

function batchRows(state: string): number {
  try {
    return readStateFile(state, (db) => (db.prepare('SELECT count(*) AS n FROM batch_jobs').get() as { n: number }).n);
  } catch {
    return 0;
  }
}

function namedRows(state: string): number {
  try {
    return readStateFile(state, (db) => (db.prepare('SELECT count(*) AS n FROM batch_jobs WHERE name IS NOT NULL').get() as { n: number }).n);
  } catch {
    return 0;
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
