import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';
import { billedCalls, billedUsd } from '../helpers/billed.js';
import { runCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Image replies whose base64 data is broken (the emulator's `bad_image_rate`: cut off halfway, a
 * PNG header that reads and pixels that do not). No such reply may be written as done: each image
 * is decoded before its step is done, and one that does not decode is a billed bad response
 * (BAD_RESPONSE, its usage in the ledger), retried. Every file on disk is then a whole image.
 */
const tempDir = useTempDir();
const catalog = PriceCatalog.load();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

// Written as it came (png), or decoded for post-processing and converted (webp): both ways check it.
const steps = (model: string, batch: boolean, post: boolean): string => `  - name: hero
    task: image
    model: ${model}
    prompt: "A hero image for {{title}}"
    output: ${post ? '{ file: "images/{{slug}}.webp", post: [{ resize: { width: 320, height: 180, fit: cover } }] }' : '{ file: "images/{{slug}}.png" }'}
${batch ? '    mode: batch\n' : ''}`;

const cases = [
  { model: 'gemini-2.5-flash-image', batch: false, post: false },
  { model: 'gemini-2.5-flash-image', batch: false, post: true },
  { model: 'imagen-4.0-fast-generate-001', batch: false, post: false },
  { model: 'gemini-2.5-flash-image', batch: true, post: false },
];

describe('image replies with broken base64', () => {
  for (const { model, batch, post } of cases) {
    it(`${model}${batch ? ' in batch' : ''}${post ? ', post-processed' : ''}: a broken image is a billed bad response, retried; every file written decodes`, async () => {
      emulator = await startEmulator(parseEmulatorConfig({ seed: 4, latency_ms: 0, bad_image_rate: 0.35, batch: { queue_ms: 20, run_ms: 100 } }), { port: 0 });
      const dir = tempDir();
      writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1' }]);
      const job = writeJob(dir, {
        items: 12,
        steps: steps(model, batch, post),
        limits: '{ concurrency: 3, max_attempts: 8 }',
        extra: batch ? 'batch: { staging: "gs://staging-bucket/images", poll: 100ms }' : '',
      });
      const state = join(dir, '.genbatch', 'quota-job.db');

      const result = await runCli(['run', job, '--yes', '--plain']);
      expect(result.code, result.stderr).toBe(0);
      expect(stepStates(state)).toEqual({ done: 12 });
      // Every file written is a whole image.
      const files = readdirSync(join(dir, 'out', 'images'));
      expect(files).toHaveLength(12);
      const broken: string[] = [];
      for (const file of files) {
        try {
          await sharp(readFileSync(join(dir, 'out', 'images', file)))
            .raw()
            .toBuffer();
        } catch {
          broken.push(file);
        }
      }
      expect(broken, `files that are not images: ${broken.join(', ')}`).toEqual([]);

      // The broken replies were retried, each booked with what Vertex billed for it.
      expect(result.stderr).toMatch(/retry: item "[^"]+" step hero on p1 \(BAD_RESPONSE\)/);
      if (batch) {
        const s = emulator.stats().projects.p1;
        const ledger = readStateFile(state, (db) => db.prepare('SELECT coalesce(sum(cost_usd), 0) FROM ledger').pluck().get() as number);
        const usd = catalog.batchCost(model, { ...emptyUsage(), inputTokens: s?.batch_input_tokens ?? 0, outputTokens: s?.batch_output_tokens ?? 0 });
        console.log(
          `${model} in batch: ${(s?.batch_requests ?? 0) - 12} broken lines retried; ledger $${ledger.toFixed(6)}, emulator billed $${usd.toFixed(6)}`,
        );
        expect(s?.batch_requests ?? 0).toBeGreaterThan(12);
        expect(s?.batch_ok).toBe(s?.batch_requests);
        expect(ledger).toBeGreaterThanOrEqual(usd - 1e-9);
        return;
      }
      const bad = readStateFile(
        state,
        (db) => db.prepare("SELECT count(*) AS n, min(cost_usd) AS least FROM ledger WHERE error_code = 'BAD_RESPONSE'").get() as { n: number; least: number },
      );
      expect(bad.n).toBeGreaterThan(0);
      expect(bad.least).toBeGreaterThan(0);
      expect(billedCalls(emulator)).toBe(12 + bad.n);
      const ledger = readStateFile(state, (db) => db.prepare('SELECT coalesce(sum(cost_usd), 0) FROM ledger').pluck().get() as number);
      const billed = billedUsd(emulator);
      console.log(
        `${model}: ${bad.n} broken image replies of ${billedCalls(emulator)} billed; ledger $${ledger.toFixed(6)}, emulator billed $${billed.toFixed(6)}`,
      );
      expect(ledger).toBeGreaterThanOrEqual(billed - 1e-9);
    }, 60_000);
  }
});
