import { Storage } from '@google-cloud/storage';
import type { BatchJob, GoogleGenAI } from '@google/genai';
import { describe, expect, it } from 'vitest';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';
import { billedUsd } from '../helpers/billed.js';
import { TEST_PROJECT, useResetEmulator } from '../helpers/emulator-client.js';

/**
 * Batch prediction lines that name an explicit cache (`cachedContent`) or share a long prefix
 * (implicit caching) report cachedContentTokenCount, and the emulator counts those tokens apart
 * (`batch_cached_input_tokens`): priced at the cached price, not the batch price (Vertex: the cache
 * discount and the batch discount do not stack).
 */
const MODEL = 'gemini-2.5-flash';
const BUCKET = 'genbatch-staging';
const STYLE = 'word '.repeat(3000).trim();
const FINAL = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_PARTIALLY_SUCCEEDED', 'JOB_STATE_FAILED']);

interface OutputLine {
  status: string;
  response?: { usageMetadata: { promptTokenCount: number; candidatesTokenCount?: number; thoughtsTokenCount?: number; cachedContentTokenCount?: number } };
}

describe('emulator: batch prediction with context caching', () => {
  const t = useResetEmulator({ batch: { queue_ms: 0, run_ms: 0, shuffle: false } });

  async function run(lines: object[]): Promise<OutputLine[]> {
    const storage = new Storage({ apiEndpoint: t.url, projectId: TEST_PROJECT });
    const name = `in-${Math.random().toString(36).slice(2)}.jsonl`;
    await storage
      .bucket(BUCKET)
      .file(name)
      .save(lines.map((l) => `${JSON.stringify(l)}\n`).join(''), { resumable: false });
    const ai: GoogleGenAI = t.client();
    let job: BatchJob = await ai.batches.create({ model: MODEL, src: `gs://${BUCKET}/${name}`, config: { dest: `gs://${BUCKET}/out-${name}` } });
    const deadline = Date.now() + 20_000;
    while (!FINAL.has(String(job.state))) {
      if (Date.now() > deadline) throw new Error(`job still ${job.state}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      job = await ai.batches.get({ name: job.name ?? '' });
    }
    const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(job.outputInfo?.gcsOutputDirectory ?? '');
    const [files] = await storage.bucket(match?.[1] ?? '').getFiles({ prefix: `${match?.[2] ?? ''}/` });
    const out: OutputLine[] = [];
    for (const file of files) {
      const [bytes] = await file.download();
      out.push(
        ...bytes
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as OutputLine),
      );
    }
    return out;
  }

  it('reports the explicit cache’s tokens on lines that name it, and counts them apart', async () => {
    const cache = await t.client().caches.create({ model: MODEL, config: { systemInstruction: STYLE, ttl: '600s' } });
    const lines = await run(
      ['a', 'b', 'c'].map((x) => ({ request: { cachedContent: cache.name, contents: [{ role: 'user', parts: [{ text: `Item ${x}.` }] }] } })),
    );
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line.status).toBe('');
      expect(line.response?.usageMetadata.cachedContentTokenCount).toBe(3000);
      expect(line.response?.usageMetadata.promptTokenCount).toBeGreaterThan(3000);
    }
    const stats = t.stats().projects[TEST_PROJECT]?.by_model[MODEL];
    expect(stats?.batch_cached_input_tokens).toBe(9000);
    expect(stats?.batch_input_tokens).toBe(lines.reduce((n, l) => n + (l.response?.usageMetadata.promptTokenCount ?? 0), 0));
    // Online counters untouched.
    expect(stats?.cached_input_tokens).toBe(0);
  });

  it('applies implicit caching to lines that share a long prefix, priced at the cached price instead of the batch price', async () => {
    const lines = await run(
      ['a', 'b', 'c', 'd'].map((x) => ({
        request: { systemInstruction: { parts: [{ text: STYLE }] }, contents: [{ role: 'user', parts: [{ text: `Item ${x}.` }] }] },
      })),
    );
    const cached = lines.map((l) => l.response?.usageMetadata.cachedContentTokenCount ?? 0);
    // The first line sets the prefix; the next ones find it.
    expect([...cached].sort((a, b) => a - b)).toEqual([0, 2944, 2944, 2944]);
    const stats = t.stats().projects[TEST_PROJECT]?.by_model[MODEL];
    expect(stats?.batch_cached_input_tokens).toBe(3 * 2944);

    const catalog = PriceCatalog.load();
    const perLine = lines.reduce((usd, l) => {
      const u = l.response?.usageMetadata;
      return (
        usd +
        catalog.batchCost(MODEL, {
          ...emptyUsage(),
          inputTokens: u?.promptTokenCount ?? 0,
          cachedTokens: u?.cachedContentTokenCount ?? 0,
          outputTokens: (u?.candidatesTokenCount ?? 0) + (u?.thoughtsTokenCount ?? 0),
        })
      );
    }, 0);
    expect(billedUsd(t.emu)).toBeCloseTo(perLine, 12);
    // Cached tokens at the cached price ($0.03/1M for gemini-2.5-flash), not half of it.
    const halfOff = catalog.batchCost(MODEL, { ...emptyUsage(), inputTokens: 1_000_000 });
    const cachedOnly = catalog.batchCost(MODEL, { ...emptyUsage(), inputTokens: 1_000_000, cachedTokens: 1_000_000 });
    expect(cachedOnly).toBeCloseTo(0.03, 12);
    expect(halfOff).toBeCloseTo(0.15, 12);
  });
});
