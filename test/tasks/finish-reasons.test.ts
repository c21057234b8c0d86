import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { readStateFile } from '../helpers/state-file.js';
import { posts } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { useTaskJobs, type StatusJson } from './task-job.js';

/** What `status --json` adds for finish reasons (docs/finish-reasons.md). */
type FinishStatus = Omit<StatusJson, 'failures'> & {
  finish_reasons: Record<string, number>;
  step_finish_reasons: Record<string, { reasons: Record<string, number>; truncated: number }>;
  failures: { id: string; step: string; error: string; message: string; finish_reason: string }[];
};

const taskJob = useTaskJobs();

function results(file: string): Record<string, string>[] {
  return parse(readFileSync(file), { columns: true }) as Record<string, string>[];
}

/** Counts of a column's values. */
function tally(rows: Record<string, string>[], column: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row[column] ?? ''] = (counts[row[column] ?? ''] ?? 0) + 1;
  return counts;
}

const TEXT_STEP = `  - name: blurb
    task: text
    model: gemini-2.5-flash
    prompt: "One paragraph about {{title}}"
`;

describe('task: finish reasons end to end', () => {
  it('emulator finish_reasons: policy reasons are filtered once, OTHER is retried, and results, status and exit codes say so', async () => {
    const t = await taskJob({
      items: 40,
      steps: TEXT_STEP,
      extra: 'results: out/results.csv\n',
      emulator: { finish_reasons: { RECITATION: 0.15, LANGUAGE: 0.05, OTHER: 0.15 } },
    });
    const run = await t.run();
    const statusRun = await runCli(['status', t.job, '--json']);
    // status reports; it exits 0 whatever is left (failed or filtered items).
    expect(statusRun.code).toBe(0);
    const status = JSON.parse(statusRun.stdout) as FinishStatus;
    const { done = 0, filtered = 0, failed = 0, pending = 0 } = status.counts;
    expect(filtered).toBeGreaterThan(0);
    expect(done).toBeGreaterThan(0);
    expect(done + filtered + failed + pending).toBe(40);
    expect(pending).toBe(0);
    // Filtered items are an outcome (exit 0); a step that failed in this run (OTHER every time) makes it exit 1.
    expect(run.code, run.stderr).toBe(failed > 0 ? 1 : 0);
    // OTHER is retried within max_attempts (3); an item that got OTHER every time fails with it.
    for (const f of status.failures.filter((x) => x.error !== 'SAFETY_FILTERED')) {
      expect(f).toMatchObject({
        error: 'BAD_RESPONSE',
        finish_reason: 'OTHER',
        message: expect.stringMatching(/finish reason OTHER.*gave up after 3 attempts/) as unknown,
      });
    }

    const rows = results(t.out('results.csv'));
    // The results file names the reason of every step: STOP for done, the policy reason for filtered.
    for (const row of rows) {
      if (row.blurb_state === 'done') expect(row.blurb_finish_reason).toBe('STOP');
      if (row.blurb_state === 'filtered') {
        expect(['RECITATION', 'LANGUAGE']).toContain(row.blurb_finish_reason);
        expect(row.blurb_error).toContain(`reply blocked (${row.blurb_finish_reason})`);
      }
      if (row.blurb_state === 'failed') expect(row.blurb_finish_reason).toBe('OTHER');
    }
    expect(tally(rows, 'blurb_finish_reason')).toEqual(status.finish_reasons);
    expect(status.step_finish_reasons.blurb?.reasons).toEqual(status.finish_reasons);
    expect((status.finish_reasons.RECITATION ?? 0) + (status.finish_reasons.LANGUAGE ?? 0)).toBe(filtered);
    expect(
      status.failures
        .filter((f) => f.error === 'SAFETY_FILTERED')
        .map((f) => f.finish_reason)
        .sort(),
    ).toEqual(
      rows
        .filter((r) => r.blurb_state === 'filtered')
        .map((r) => r.blurb_finish_reason)
        .sort(),
    );

    // OTHER was retried (more calls than items); a filtered item was asked once only.
    const calls = t.calls('gemini-2.5-flash');
    expect(calls).toBeGreaterThan(40);
    expect(status.requests).toBe(calls);
    // Nothing new: exit 0, whatever is left failed or filtered from the first run.
    const again = await t.run();
    expect(again.code).toBe(0);
    expect(t.calls('gemini-2.5-flash')).toBe(calls);

    // Human status lists the reasons other than STOP.
    const human = await runCli(['status', t.job]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/Finish reasons other than STOP: .*RECITATION \d+/);
  });

  it('a reply cut at max_output_tokens fails the step by default (TRUNCATED, billed once, not retried); on_truncated: keep keeps it, marked', async () => {
    const step = `${TEXT_STEP}    max_output_tokens: 20
    params: { thinking_budget: 0 }
`;
    const t = await taskJob({ items: 4, steps: step, extra: 'results: out/results.csv\n' });
    const run = await t.run();
    expect(run.code, run.stderr).toBe(1);
    let status = (await t.status()) as FinishStatus;
    expect(status.counts).toMatchObject({ failed: 4, done: 0 });
    expect(status.failures.map((f) => [f.error, f.finish_reason])).toEqual(Array.from({ length: 4 }, () => ['TRUNCATED', 'MAX_TOKENS']));
    expect(status.failures[0]?.message).toMatch(/cut at max_output_tokens \(20\)/);
    expect(status.finish_reasons).toEqual({ MAX_TOKENS: 4 });
    // Billed once each, never retried (max_attempts is 3): the same settings would be cut again.
    expect(t.calls('gemini-2.5-flash')).toBe(4);
    expect(status.cost_usd).toBeGreaterThan(0);
    expect(results(t.out('results.csv')).map((r) => [r.blurb_state, r.blurb_finish_reason])).toEqual(Array.from({ length: 4 }, () => ['failed', 'MAX_TOKENS']));
    const human = await runCli(['status', t.job]);
    expect(human.stdout).toMatch(/TRUNCATED \(MAX_TOKENS\)|TRUNCATED: The reply was cut/);

    // The person chooses to keep cut replies, then retries the failed items.
    writeFileSync(t.job, readFileSync(t.job, 'utf8').replace('    max_output_tokens: 20\n', '    max_output_tokens: 20\n    on_truncated: keep\n'));
    expect((await runCli(['retry', t.job, '--failed'])).code).toBe(0);
    const kept = await t.run();
    expect(kept.code, kept.stderr).toBe(0);
    status = (await t.status()) as FinishStatus;
    expect(status.counts).toMatchObject({ done: 4, failed: 0 });
    expect(status.step_finish_reasons.blurb).toEqual({ reasons: { MAX_TOKENS: 4 }, truncated: 4 });
    const rows = results(t.out('results.csv'));
    expect(rows.map((r) => [r.blurb_state, r.blurb_finish_reason])).toEqual(Array.from({ length: 4 }, () => ['done', 'MAX_TOKENS']));
    expect(rows.every((r) => (r.blurb_text ?? '').length > 0)).toBe(true);
    expect((await runCli(['status', t.job])).stdout).toMatch(/4 cut reply\(ies\) kept as done \(on_truncated: keep\)/);
  });

  it('mode: batch judges batch lines the same way: cut lines fail TRUNCATED in the first batch job, never resubmitted', async () => {
    const step = `${TEXT_STEP}    max_output_tokens: 20
    params: { thinking_budget: 0 }
    mode: batch
`;
    const t = await taskJob({
      items: 6,
      steps: step,
      extra: 'batch: { staging: "gs://staging-bucket/finish", poll: 100ms }\nresults: out/results.csv\n',
      emulator: { batch: { queue_ms: 40, run_ms: 200 } },
    });
    const run = await t.run();
    expect(run.code, run.stderr).toBe(1);
    const status = (await t.status()) as FinishStatus;
    expect(status.counts).toMatchObject({ failed: 6, done: 0, pending: 0 });
    expect(status.failures.map((f) => [f.error, f.finish_reason])).toEqual(Array.from({ length: 6 }, () => ['TRUNCATED', 'MAX_TOKENS']));
    expect(status.failures[0]?.message).not.toMatch(/gave up after/);
    // One batch job of 6 requests: a cut line is not sent again in another job.
    expect(t.emulator.stats().projects.studio?.batch_jobs).toBe(1);
    expect(t.emulator.stats().projects.studio?.batch_requests).toBe(6);
  });

  it('on_truncated on an image step is refused at validate, naming the step key (exit 2, nothing spent)', async () => {
    const t = await taskJob({
      steps: `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "A picture of {{title}}"
    on_truncated: keep
    output: { file: "images/{{slug}}.png" }
`,
    });
    const validate = await runCli(['validate', t.job]);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toMatch(/on_truncated applies to text and JSON steps/);
    expect(t.calls('gemini-2.5-flash-image')).toBe(0);
  });
});

interface RecordedUsage {
  promptTokenCount: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
}

describe('recorded gemini-2.5-flash replies in rotation, through the CLI', () => {
  const tempDir = useTempDir();
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** A stand-in for Vertex that answers every generateContent with the next recorded reply, in rotation. */
  async function replay(): Promise<{ url: string; calls: () => number; usage: RecordedUsage[] }> {
    const dir = new URL('../contract/fixtures/finish-reasons/rotation/', import.meta.url);
    const replies = readdirSync(dir)
      .sort()
      .map((name) => readFileSync(new URL(name, dir), 'utf8'));
    let calls = 0;
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (!req.url?.includes(':generateContent')) {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 404, message: 'Not found', status: 'NOT_FOUND' } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' }).end(replies[calls++ % replies.length]);
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const usage = replies.map((reply) => (JSON.parse(reply) as { usageMetadata: RecordedUsage }).usageMetadata);
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls: () => calls, usage };
  }

  it.each([
    ['fail', { done: 18, failed: 12, truncated: 0, exit: 1 }],
    ['keep', { done: 24, failed: 6, truncated: 6, exit: 1 }],
  ] as const)('on_truncated: %s: 30 items, 30 calls, none cut saved as done unless kept', async (mode, expected) => {
    const vertex = await replay();
    const dir = tempDir();
    writeFileSync(join(dir, 'input.csv'), stringify(posts(30), { header: true }));
    writeFileSync(
      join(dir, 'credentials.yaml'),
      `projects:\n  - { name: rec, project: rec, location: us-central1, api_key: test-key, endpoint: "${vertex.url}" }\n`,
    );
    const job = join(dir, 'job.yaml');
    writeFileSync(
      job,
      `version: 1
name: recorded
input: { file: input.csv, id: slug }
credentials: credentials.yaml
steps:
  - name: blurb
    task: text
    model: gemini-2.5-flash
    prompt: "One paragraph about {{title}}"
    max_output_tokens: 200
    on_truncated: ${mode}
limits: { concurrency: 1, max_attempts: 3 }
results: out/results.jsonl
`,
    );
    const run = await runCli(['run', job, '--yes']);
    expect(run.code, run.stderr).toBe(expected.exit);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as FinishStatus;
    expect(status.counts).toMatchObject({ done: expected.done, failed: expected.failed });
    expect(status.requests).toBe(30);
    expect(vertex.calls()).toBe(30);
    expect(status.step_finish_reasons.blurb?.truncated).toBe(expected.truncated);
    expect(status.finish_reasons).toEqual({ STOP: 18, MAX_TOKENS: 12 });
    const records = readFileSync(join(dir, 'out', 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { steps: { blurb: { state: string; finish_reason?: string; truncated?: boolean; text?: string } } });
    // The ledger is what the 30 replies cost at list price (gemini-2.5-flash: $0.30 per 1M input
    // tokens, $0.03 cached, $2.50 output and thinking), cached tokens included, to the micro-dollar.
    const listUsd = Array.from({ length: 30 }, (_, call) => {
      const u = vertex.usage[call % vertex.usage.length] as RecordedUsage;
      const cached = u.cachedContentTokenCount ?? 0;
      return ((u.promptTokenCount - cached) * 0.3 + cached * 0.03 + ((u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0)) * 2.5) / 1e6;
    }).reduce((sum, usd) => sum + usd, 0);
    const ledgerUsd = readStateFile(
      join(dir, '.genbatch', 'recorded.db'),
      (db) => (db.prepare('SELECT SUM(cost_usd) AS usd FROM ledger').get() as { usd: number }).usd,
    );
    expect(Math.abs(ledgerUsd - listUsd)).toBeLessThan(1e-9);
    expect(Math.abs(status.cost_usd - listUsd)).toBeLessThanOrEqual(5e-7 + 1e-12);
    for (const { steps } of records) {
      // Every item is done with a non-empty output, or failed with its reason.
      if (steps.blurb.state === 'done') {
        expect(steps.blurb.text?.length).toBeGreaterThan(0);
        expect(steps.blurb.finish_reason === 'STOP' || (mode === 'keep' && steps.blurb.truncated === true)).toBe(true);
      } else {
        expect(steps.blurb).toMatchObject({ state: 'failed', finish_reason: 'MAX_TOKENS' });
      }
    }
  });
});
