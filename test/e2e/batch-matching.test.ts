import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';
import { runCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { posts } from '../helpers/job-fixture.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Batch output as Google documents it: lines carry `status`, `processed_time`, the echoed (and
 * re-serialised) `request` and `response`, no custom key unless the service keeps it, in any order.
 * A 300-item batch step must finish 300 of 300 either way, with each item's output the reply to its
 * own prompt, few extra batch requests, and a ledger equal to what the emulator billed.
 */

const MODEL = 'gemini-2.5-flash';
const ITEMS = 300;
// A request seed makes the emulator answer a prompt the same on every ask: the test can ask it again.
const LINE_STEP = `  - name: line
    task: text
    model: ${MODEL}
    prompt: "Write one line about {{title}}."
    max_output_tokens: 400
    params: { seed: 7, thinking_budget: 0 }
    mode: batch
    output: { file: "lines/{{slug}}.txt" }
`;

function batchTotals(t: TestEmulator): { jobs: number; requests: number; ok: number; online: number } {
  let jobs = 0;
  let requests = 0;
  let ok = 0;
  let online = 0;
  for (const p of Object.values(t.emu.stats().projects)) {
    jobs += p.batch_jobs;
    requests += p.batch_requests;
    ok += p.batch_ok;
    online += p.requests;
  }
  return { jobs, requests, ok, online };
}

/** The emulator's billed batch usage at the catalog's batch price. */
function batchBilledUsd(t: TestEmulator): number {
  const catalog = PriceCatalog.load();
  let usd = 0;
  for (const p of Object.values(t.emu.stats().projects))
    for (const [model, c] of Object.entries(p.by_model))
      usd += catalog.batchCost(model, { ...emptyUsage(), inputTokens: c.batch_input_tokens, outputTokens: c.batch_output_tokens });
  return usd;
}

const ledgerUsd = (state: string): number =>
  readStateFile(state, (db) => (db.prepare('SELECT coalesce(sum(cost_usd), 0) AS usd FROM ledger').get() as { usd: number }).usd);

describe('batch output lines matched without relying on an echoed key or on order', () => {
  const tempDir = useTempDir();
  let t: TestEmulator | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const cases = [
    { echo_key: false, shuffle: true },
    { echo_key: false, shuffle: false },
    { echo_key: true, shuffle: true },
    { echo_key: true, shuffle: false },
  ];
  for (const batch of cases) {
    it(`300 items finish 300 of 300 with echo_key ${batch.echo_key} and shuffle ${batch.shuffle}`, async () => {
      t = await startTestEmulator({
        seed: 23,
        models: { [MODEL]: { output_tokens: { mean: 24, sd: 4 } } },
        batch: { queue_ms: 40, run_ms: 200, line_fail_rate: 0.02, ...batch },
      });
      const dir = tempDir();
      writeCredentials(join(dir, 'credentials.yaml'), t.url, [{ name: 'p1' }]);
      const job = writeJob(dir, {
        items: ITEMS,
        steps: LINE_STEP,
        limits: '{ concurrency: 4, max_attempts: 5 }',
        extra: 'batch: { staging: "gs://staging-bucket/nightly", poll: 100ms }',
      });
      const state = join(dir, '.genbatch', 'quota-job.db');

      const result = await runCli(['run', job, '--yes', '--plain']);
      expect(result.code, result.stderr).toBe(0);
      expect(stepStates(state)).toEqual({ done: ITEMS });
      const s = batchTotals(t);
      expect(s.online).toBe(0);
      expect(s.ok).toBe(ITEMS);
      // The failed lines (2%) are resubmitted, and nothing else: at most 10% extra batch requests.
      expect(s.requests).toBeGreaterThan(ITEMS);
      expect(s.requests).toBeLessThanOrEqual(ITEMS * 1.1);
      expect(Math.abs(ledgerUsd(state) - batchBilledUsd(t))).toBeLessThan(1e-6);
      expect(ledgerUsd(state)).toBeGreaterThan(0);
      console.log(
        `batch matching, echo_key ${batch.echo_key}, shuffle ${batch.shuffle}: ${s.requests} batch requests in ${s.jobs} jobs for ${ITEMS} items; ledger $${ledgerUsd(state).toFixed(6)}, emulator's batch usage $${batchBilledUsd(t).toFixed(6)}`,
      );

      // Each item's output is the reply to its own prompt: ask the emulator the same request again.
      const ai = t.client('p1');
      for (const post of posts(ITEMS)) {
        const reply = await ai.models.generateContent({
          model: MODEL,
          contents: `Write one line about ${post.title}.`,
          config: { seed: 7, maxOutputTokens: 400, thinkingConfig: { thinkingBudget: 0 } },
        });
        expect(readFileSync(join(dir, 'out', 'lines', `${post.slug}.txt`), 'utf8'), post.slug).toBe(reply.text);
      }
    }, 120_000);
  }
});
