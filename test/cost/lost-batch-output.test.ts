import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Batch output lost or damaged after Vertex billed it, as an operator's bad day brings it: a
 * lifecycle rule or a person deletes `predictions.jsonl`, or a copy leaves it cut in half, before
 * genbatch collects the job. The job's own completionStats say how many lines Vertex billed; those
 * genbatch cannot read are booked at their worst case, counted, named, and never resubmitted.
 * Each case: `run --no-wait` submits, the job ends (succeeded, cancelled or expired part way) at
 * the emulator, the object is deleted or cut through the emulator's Cloud Storage API, and two
 * more runs follow. The ledger must never be below what the emulator billed, and nothing is paid twice.
 */

const BATCH_BRIEF = `${BRIEF_STEP}    mode: batch\n`;
const BUCKET = 'staging-bucket';
const ITEMS = 40;
const catalog = PriceCatalog.load();

function batchBilled(t: TestEmulator): { usd: number; requests: number; ok: number; jobs: number } {
  let usd = 0;
  let requests = 0;
  let ok = 0;
  let jobs = 0;
  for (const p of Object.values(t.emu.stats().projects)) {
    requests += p.batch_requests;
    ok += p.batch_ok;
    jobs += p.batch_jobs;
    for (const [model, c] of Object.entries(p.by_model))
      usd += catalog.batchCost(model, { ...emptyUsage(), inputTokens: c.batch_input_tokens, outputTokens: c.batch_output_tokens });
  }
  return { usd, requests, ok, jobs };
}

const ledgerUsd = (state: string): number =>
  readStateFile(state, (db) => (db.prepare('SELECT coalesce(sum(cost_usd), 0) AS usd FROM ledger').get() as { usd: number }).usd);

const errorCodes = (state: string): Record<string, number> =>
  readStateFile(state, (db) =>
    Object.fromEntries(
      (db.prepare("SELECT coalesce(error_code, '') AS code, count(*) AS n FROM item_steps GROUP BY error_code").all() as { code: string; n: number }[]).map(
        (r) => [r.code, r.n],
      ),
    ),
  );

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

type Ending = 'succeeded' | 'cancelled' | 'expired';
type Fault = 'deleted' | 'truncated';

describe('batch output that cannot be read after Vertex billed it', () => {
  const tempDir = useTempDir();
  let t: TestEmulator | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  /** Submits, lets the job end as asked at the emulator, then deletes or cuts its predictions file through the storage API. */
  async function damagedJob(ending: Ending, fault: Fault): Promise<{ dir: string; job: string; state: string; t: TestEmulator }> {
    const long = ending !== 'succeeded';
    const emu = await startTestEmulator({
      seed: 11,
      models: { 'gemini-2.5-flash': { output_tokens: { mean: 60, sd: 10 } } },
      batch: { queue_ms: 300, run_ms: long ? 4000 : 200, cancel_ms: 0, line_fail_rate: long ? 0 : 0.1 },
    });
    t = emu;
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emu.url, [{ name: 'p1' }]);
    const job = writeJob(dir, {
      items: ITEMS,
      steps: BATCH_BRIEF,
      limits: '{ concurrency: 4, max_attempts: 5 }',
      extra: `batch: { staging: "gs://${BUCKET}/nightly", poll: 100ms }`,
    });
    const state = join(dir, '.genbatch', 'quota-job.db');
    const first = await runCli(['run', job, '--yes', '--plain', '--no-wait']);
    expect(first.code, first.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ running: ITEMS });
    const name = readStateFile(state, (db) => db.prepare('SELECT name FROM batch_jobs').pluck().get() as string);
    const ai = emu.client('p1');
    if (long) {
      // About a third answered (and billed), then the job is stopped part way.
      await waitFor(() => batchBilled(emu).ok >= ITEMS / 3);
      if (ending === 'cancelled') await ai.batches.cancel({ name });
      else await fetch(`${emu.url}/_emulator/batch/expire`, { method: 'POST', body: '{}' });
    }
    const want = { succeeded: 'JOB_STATE_SUCCEEDED', cancelled: 'JOB_STATE_CANCELLED', expired: 'JOB_STATE_EXPIRED' }[ending];
    const finished = ['JOB_STATE_SUCCEEDED', 'JOB_STATE_PARTIALLY_SUCCEEDED'];
    let remote = await ai.batches.get({ name });
    await waitFor(async () => {
      remote = await ai.batches.get({ name });
      return remote.state === want || (ending === 'succeeded' && finished.includes(String(remote.state)));
    });
    const directory = /^gs:\/\/([^/]+)\/(.+)$/.exec(remote.outputInfo?.gcsOutputDirectory ?? '');
    expect(directory?.[1]).toBe(BUCKET);
    const object = `${emu.url}/storage/v1/b/${BUCKET}/o/${encodeURIComponent(`${directory?.[2] ?? ''}/predictions.jsonl`)}`;
    if (fault === 'deleted') {
      expect((await fetch(object, { method: 'DELETE' })).status).toBe(204);
    } else {
      const body = Buffer.from(await (await fetch(`${object}?alt=media`)).arrayBuffer());
      const upload = `${emu.url}/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=${encodeURIComponent(`${directory?.[2] ?? ''}/predictions.jsonl`)}`;
      expect((await fetch(upload, { method: 'POST', body: body.subarray(0, Math.floor(body.length / 2)) })).status).toBe(200);
    }
    return { dir, job, state, t: emu };
  }

  const cases: [Ending, Fault][] = [
    ['succeeded', 'deleted'],
    ['succeeded', 'truncated'],
    ['expired', 'deleted'],
    ['cancelled', 'truncated'],
  ];
  for (const [ending, fault] of cases) {
    it(`a ${ending} job whose predictions.jsonl was ${fault}: billed lines it cannot read are booked at their worst case, named, and not paid again`, async () => {
      const { dir, job, state, t: emu } = await damagedJob(ending, fault);
      const billed = batchBilled(emu);
      expect(billed.ok).toBeGreaterThan(0);

      const collect = await runCli(['run', job, '--yes', '--plain']);
      expect(collect.code, collect.stderr).toBe(1);
      expect(collect.stderr).toMatch(/billed \d+ line\(s\) whose output cannot be read/);
      expect(ledgerUsd(state)).toBeGreaterThanOrEqual(batchBilled(emu).usd - 1e-9);

      // The unreadable items failed; only lines read as failed (not billed) wait to be sent again.
      const retried = stepStates(state).pending ?? 0;
      if (ending !== 'succeeded') expect(retried).toBe(0);
      const again = await runCli(['run', job, '--yes', '--plain']);
      if (retried === 0) expect(again.stderr).toContain('Nothing to do');
      // Nothing paid twice: the only requests after the first job are those failed lines (and their retries).
      const unreadableItems = errorCodes(state).BATCH_OUTPUT_UNREADABLE ?? 0;
      if (retried === 0) expect(batchBilled(emu)).toMatchObject({ jobs: 1, requests: ITEMS, ok: billed.ok });
      else expect(batchBilled(emu).requests).toBeGreaterThanOrEqual(ITEMS + retried);
      expect(batchBilled(emu).ok).toBeLessThanOrEqual(ITEMS);
      expect(stepStates(state).failed).toBe(unreadableItems);
      expect(stepStates(state).done ?? 0).toBe(ITEMS - unreadableItems);
      expect(ledgerUsd(state)).toBeGreaterThanOrEqual(batchBilled(emu).usd - 1e-9);
      expect(errorCodes(state).BATCH_OUTPUT_UNREADABLE ?? 0).toBeGreaterThan(0);

      // Counted and named: status --json's batch entry and failures, and the run log.
      const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as {
        cost_usd: number;
        batches: { unreadable_lines: number; succeeded: number; reason?: string }[];
        failures: { id: string; error: string }[];
      };
      const first = status.batches.at(-1);
      const unreadable = first?.unreadable_lines ?? 0;
      expect(unreadable).toBeGreaterThan(0);
      expect(unreadable).toBeLessThanOrEqual(billed.ok);
      expect(first?.reason).toMatch(/cannot be read/);
      expect(status.cost_usd).toBeGreaterThanOrEqual(Math.floor(billed.usd * 1e6) / 1e6);
      expect(status.failures.some((f) => f.error === 'BATCH_OUTPUT_UNREADABLE')).toBe(true);
      const logs = readdirSync(join(dir, '.genbatch', 'logs')).map((f) => readFileSync(join(dir, '.genbatch', 'logs', f), 'utf8'));
      expect(logs.join('\n')).toMatch(/"event":"batch:settled"[^\n]*"unreadable":\d+/);
      console.log(
        `${ending} job, output ${fault}: emulator billed ${billed.ok} lines ($${billed.usd.toFixed(6)}); ledger $${ledgerUsd(state).toFixed(6)}, ${unreadable} unreadable billed line(s); ${JSON.stringify(errorCodes(state))}`,
      );
    }, 60_000);
  }
});
