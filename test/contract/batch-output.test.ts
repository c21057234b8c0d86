import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { itemLabel } from '../../src/engine/executors/batch-matching.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';
import { runCli } from '../helpers/cli.js';
import { writeCredentials } from '../helpers/emulated-job.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Batch output lines written by hand from Google's documented shape (`status`, `processed_time`,
 * the echoed `request` re-serialised as proto JSON, `response` with `usageMetadata`; a failed line
 * has a non-empty `status` and no response), with and without a `key`, shuffled, with and without
 * the item label, with a line for an item nobody asked about and with a line missing. Each is put
 * in place of a real job's output in the emulator's Cloud Storage before genbatch collects it; the
 * test checks what genbatch records: item states, output files, the ledger and `status --json`.
 */

const FIXTURES = join(import.meta.dirname, 'fixtures', 'batch-output');
const MODEL = 'gemini-2.5-flash';
const IDS = ['alpha', 'beta', 'gamma', 'delta'];
const catalog = PriceCatalog.load();

interface FixtureLine {
  key?: string;
  status: string;
  request: { labels?: Record<string, string> };
  response?: { candidates: { content: { parts: { text: string }[] } }[]; usageMetadata: { promptTokenCount: number; candidatesTokenCount?: number } };
}

const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');
const lines = (name: string): FixtureLine[] =>
  fixture(name)
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as FixtureLine);

/** What Vertex bills for the lines that have a response: their usageMetadata at the batch price. */
function billedUsd(name: string): number {
  return lines(name).reduce((usd, l) => {
    const meta = l.response?.usageMetadata;
    if (!meta) return usd;
    return usd + catalog.batchCost(MODEL, { ...emptyUsage(), inputTokens: meta.promptTokenCount, outputTokens: meta.candidatesTokenCount ?? 0 });
  }, 0);
}

interface LedgerRow {
  item_id: string | null;
  error_code: string | null;
  cost_usd: number;
  reserved_usd: number;
  input_tokens: number;
  output_tokens: number;
}

const ledger = (state: string): LedgerRow[] =>
  readStateFile(
    state,
    (db) => db.prepare('SELECT item_id, error_code, cost_usd, reserved_usd, input_tokens, output_tokens FROM ledger ORDER BY id').all() as LedgerRow[],
  );

const stepRows = (state: string): Record<string, { state: string; error_code: string | null }> =>
  readStateFile(state, (db) =>
    Object.fromEntries(
      (db.prepare('SELECT item_id, state, error_code FROM item_steps').all() as { item_id: string; state: string; error_code: string | null }[]).map((r) => [
        r.item_id,
        { state: r.state, error_code: r.error_code },
      ]),
    ),
  );

describe('batch output lines as Google documents them, fed to genbatch in place of a real job output', () => {
  const tempDir = useTempDir();
  let t: TestEmulator | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('the fixtures carry the labels genbatch puts on each request (i + 40 hex digits of SHA-256 of the item id)', () => {
    const labelled = lines('labels-shuffled.jsonl');
    for (const id of IDS)
      expect(
        labelled.some((l) => l.request.labels?.genbatch_item === itemLabel(id)),
        id,
      ).toBe(true);
    expect(itemLabel('alpha')).toMatch(/^[a-z][0-9a-f]{40}$/);
  });

  /**
   * Submits the 4 items in one batch job with `run --no-wait`, waits for the emulator to finish it,
   * replaces its predictions with the fixture, and runs again to collect.
   */
  async function collectFixture(
    name: string,
    beforeCollect?: (job: string) => void,
  ): Promise<{ dir: string; state: string; job: string; result: Awaited<ReturnType<typeof runCli>> }> {
    // Short replies: the retried line of failed-line.jsonl is answered by the emulator itself, under max_output_tokens 100.
    t = await startTestEmulator({ seed: 3, batch: { queue_ms: 1500, run_ms: 0 }, models: { [MODEL]: { output_tokens: { mean: 20, sd: 5 } } } });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), t.url, [{ name: 'p1' }]);
    writeFileSync(join(dir, 'items.csv'), `id,word\n${IDS.map((id) => `${id},${id[0]?.toUpperCase()}${id.slice(1)}`).join('\n')}\n`);
    const job = join(dir, 'job.yaml');
    writeFileSync(
      job,
      `version: 1
name: contract-batch
input: { file: items.csv, id: id }
credentials: credentials.yaml
steps:
  - name: say
    task: text
    model: ${MODEL}
    prompt: "Say {{word}}."
    max_output_tokens: 100
    params: { thinking_budget: 0 }
    mode: batch
    output: { file: "say/{{id}}.txt" }
limits: { concurrency: 2, max_attempts: 3 }
batch: { staging: "gs://contract-bucket/b", poll: 100ms }
`,
    );
    const state = join(dir, '.genbatch', 'contract-batch.db');
    const first = await runCli(['run', job, '--yes', '--plain', '--no-wait']);
    expect(first.code, first.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ running: 4 });
    const jobName = readStateFile(state, (db) => db.prepare('SELECT name FROM batch_jobs').pluck().get() as string);
    const ai = t.client('p1');
    let remote = await ai.batches.get({ name: jobName });
    for (
      const deadline = Date.now() + 20_000;
      remote.state !== 'JOB_STATE_SUCCEEDED' && Date.now() < deadline;
      remote = await ai.batches.get({ name: jobName })
    )
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(remote.state).toBe('JOB_STATE_SUCCEEDED');
    const directory = /^gs:\/\/([^/]+)\/(.+)$/.exec(remote.outputInfo?.gcsOutputDirectory ?? '');
    const storage = new Storage({ apiEndpoint: t.url, projectId: 'p1' });
    await storage
      .bucket(directory?.[1] ?? '')
      .file(`${directory?.[2] ?? ''}/predictions.jsonl`)
      .save(fixture(name), { resumable: false });
    beforeCollect?.(job);
    const result = await runCli(['run', job, '--yes', '--plain']);
    return { dir, state, job, result };
  }

  const said = (dir: string, id: string): string => readFileSync(join(dir, 'out', 'say', `${id}.txt`), 'utf8');

  for (const name of ['with-key-shuffled.jsonl', 'labels-shuffled.jsonl', 'hash-only-shuffled.jsonl']) {
    it(`${name}: every item gets its own line's reply, and the ledger is the lines' usage at the batch price`, async () => {
      const { dir, state, result } = await collectFixture(name);
      expect(result.code, result.stderr).toBe(0);
      expect(stepStates(state)).toEqual({ done: 4 });
      for (const id of IDS) expect(said(dir, id)).toBe(`${id[0]?.toUpperCase()}${id.slice(1)}, as asked.`);
      const rows = ledger(state);
      expect(rows.map((r) => r.item_id).sort()).toEqual([...IDS].sort());
      expect(Math.abs(rows.reduce((usd, r) => usd + r.cost_usd, 0) - billedUsd(name))).toBeLessThan(1e-9);
      // Only the one job: nothing was resubmitted.
      expect(Object.values((t as TestEmulator).stats().projects).reduce((n, p) => n + p.batch_jobs, 0)).toBe(1);
    }, 60_000);
  }

  it('labels-shuffled-damaged-line.jsonl: a line cut off after every item got its line is left aside and named; nothing else changes', async () => {
    const { state, job, result } = await collectFixture('labels-shuffled-damaged-line.jsonl');
    expect(result.code, result.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ done: 4 });
    expect(result.stderr).toContain('1 line(s) of the output are not JSON');
    expect(Math.abs(ledger(state).reduce((usd, r) => usd + r.cost_usd, 0) - billedUsd('labels-shuffled.jsonl'))).toBeLessThan(1e-9);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { batches: { reason?: string; unreadable_lines: number }[] };
    expect(status.batches[0]?.reason).toMatch(/1 line\(s\) of the output are not JSON \(line 5\)/);
    expect(status.batches[0]?.unreadable_lines).toBe(0);
  }, 60_000);

  it('hash-only-shuffled.jsonl after the prompt was edited: matched by the request hash kept at submission', async () => {
    const edit = (job: string): void => writeFileSync(job, readFileSync(job, 'utf8').replace('prompt: "Say {{word}}."', 'prompt: "Say {{word}}, please."'));
    const { dir, state, result } = await collectFixture('hash-only-shuffled.jsonl', edit);
    expect(result.code, result.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ done: 4 });
    for (const id of IDS) expect(said(dir, id)).toBe(`${id[0]?.toUpperCase()}${id.slice(1)}, as asked.`);
  }, 60_000);

  it('failed-line.jsonl: a line with a non-empty status fails its own item, which is retried in a new job; the rest are done', async () => {
    const { dir, state, result } = await collectFixture('failed-line.jsonl');
    expect(result.code, result.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ done: 4 });
    for (const id of ['alpha', 'gamma', 'delta']) expect(said(dir, id)).toBe(`${id[0]?.toUpperCase()}${id.slice(1)}, as asked.`);
    // beta's answer came from the emulator in a second job of one request.
    expect(said(dir, 'beta')).not.toBe('Beta, as asked.');
    const stats = Object.values((t as TestEmulator).stats().projects);
    expect(stats.reduce((n, p) => n + p.batch_jobs, 0)).toBe(2);
    expect(stats.reduce((n, p) => n + p.batch_requests, 0)).toBe(5);
    const failedRow = ledger(state).find((r) => r.error_code === 'BATCH_LINE_FAILED');
    expect(failedRow).toMatchObject({ item_id: 'beta', cost_usd: 0 });
  }, 60_000);

  it('unknown-label.jsonl: a line for no item is booked at its own usage, the item without a line fails, and the step stops', async () => {
    const { state, job, result } = await collectFixture('unknown-label.jsonl');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /1 output line\(s\) match no item \(line 4: label genbatch_item=i0{40} names no item of this job\) and 1 item\(s\) got no line \("delta"\)/,
    );
    expect(result.stderr).toContain('BATCH_UNMATCHED');
    const steps = stepRows(state);
    expect(steps.delta).toEqual({ state: 'failed', error_code: 'BATCH_UNMATCHED' });
    for (const id of ['alpha', 'beta', 'gamma']) expect(steps[id]?.state).toBe('done');
    const rows = ledger(state);
    const stranger = rows.find((r) => r.error_code === 'BATCH_LINE_UNMATCHED');
    expect(stranger).toMatchObject({ item_id: null, input_tokens: 5, output_tokens: 1000 });
    expect(stranger?.cost_usd).toBeCloseTo(catalog.batchCost(MODEL, { ...emptyUsage(), inputTokens: 5, outputTokens: 1000 }), 12);
    // delta's reply is probably that line: its own row is $0, the line's row carries the cost.
    expect(rows.find((r) => r.item_id === 'delta' && r.error_code === 'BATCH_UNMATCHED')?.cost_usd).toBe(0);
    expect(Math.abs(rows.reduce((usd, r) => usd + r.cost_usd, 0) - billedUsd('unknown-label.jsonl'))).toBeLessThan(1e-9);
    // Nothing resubmitted blindly.
    expect(Object.values((t as TestEmulator).stats().projects).reduce((n, p) => n + p.batch_jobs, 0)).toBe(1);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as {
      batches: { unmatched_lines: number; missing_items: number; reason?: string }[];
      last_run: { outcome: string; exit_code: number };
      failures: { id: string; error: string }[];
    };
    expect(status.batches[0]).toMatchObject({ unmatched_lines: 1, missing_items: 1 });
    expect(status.batches[0]?.reason).toContain('match no item');
    expect(status.last_run).toMatchObject({ outcome: 'batch_stopped', exit_code: 1 });
    expect(status.failures).toEqual([expect.objectContaining({ id: 'delta', error: 'BATCH_UNMATCHED' })]);
  }, 60_000);

  it('missing-line.jsonl: a finished job without a line for an item it billed fails it at its reserved worst case, not resubmitted', async () => {
    const { state, result } = await collectFixture('missing-line.jsonl');
    expect(result.code).toBe(1);
    // The job's completionStats report 4 successful lines; 3 are in the output.
    expect(result.stderr).toMatch(
      /Vertex billed 1 line\(s\) whose output cannot be read \(the job reports 4 successful line\(s\); 3 readable here\)[^\n]*1 item\(s\) got no line \("delta"\)/,
    );
    const delta = ledger(state).find((r) => r.item_id === 'delta');
    expect(delta?.error_code).toBe('BATCH_OUTPUT_UNREADABLE');
    expect(delta?.cost_usd).toBeGreaterThan(0);
    expect(delta?.cost_usd).toBe(delta?.reserved_usd);
    expect(Object.values((t as TestEmulator).stats().projects).reduce((n, p) => n + p.batch_jobs, 0)).toBe(1);
  }, 60_000);
});
