import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResponseCache, cacheKeyOf } from '../src/cache/response-cache.js';
import type { ProviderRequest, ProviderResult } from '../src/providers/provider.js';

const ITEMS = 10_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]!;
}

const us = (ms: number): number => Math.round(ms * 10_000) / 10;

/** A JSON brief step of the demo job: its rendered request, and a reply of the usual size (~400 characters). */
function request(i: number): ProviderRequest {
  return {
    task: 'text',
    model: 'gemini-2.5-flash',
    prompt: `Write an image brief. Title: Kubernetes in production, part ${i}. Summary: What we learned running Kubernetes in production: the mistakes, the fixes, and the numbers (${i}).`,
    jsonSchema: { type: 'object', properties: { image_prompt: { type: 'string' }, alt_text: { type: 'string' } }, required: ['image_prompt', 'alt_text'] },
    maxOutputTokens: 1024,
    thinkingBudget: 0,
    params: {},
    labels: { genbatch_run: 'bench', genbatch_item: `post-${i}` },
  };
}

function reply(i: number): ProviderResult {
  const json = {
    image_prompt: `A clean, modern illustration of container ships docked at a harbour at dusk, cranes moving crates labelled ${i}, soft light, wide shot.`,
    alt_text: `Illustration of container ships and cranes at a harbour at dusk (${i}).`,
  };
  return {
    text: JSON.stringify(json),
    json,
    usage: { inputTokens: 60, outputTokens: 90, thoughtsTokens: 0, images: 0, videoSeconds: 0, characters: 0, cachedTokens: 0 },
    modelVersion: 'gemini-2.5-flash-001',
    responseId: `resp-${i}`,
  };
}

/**
 * What the response cache adds per item, over 10,000 text (JSON) results in a fresh cache folder:
 * the key of the rendered request, a lookup that misses, the store of the reply (a first run), then
 * the key and a lookup that hits (a copied job, a rebuilt state). Medians and p95 in microseconds;
 * the run without a cache does none of these, so their sum is the overhead per item.
 */
export async function cache(): Promise<Record<string, string | number>> {
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-bench-cache-'));
  const cache = ResponseCache.open({ dir, env: {} });
  try {
    const keyMs: number[] = [];
    const missMs: number[] = [];
    const putMs: number[] = [];
    const hitMs: number[] = [];
    for (let i = 0; i < ITEMS; i++) {
      const req = request(i);
      let t = performance.now();
      const key = cacheKeyOf(req);
      keyMs.push(performance.now() - t);
      t = performance.now();
      if ((await cache.get(key)) !== undefined) throw new Error('a fresh cache answered');
      missMs.push(performance.now() - t);
      const result = reply(i);
      t = performance.now();
      await cache.put(key, result, { model: 'gemini-2.5-flash', task: 'text' });
      putMs.push(performance.now() - t);
    }
    const hitKeyMs: number[] = [];
    for (let i = 0; i < ITEMS; i++) {
      const req = request(i);
      let t = performance.now();
      const key = cacheKeyOf(req);
      hitKeyMs.push(performance.now() - t);
      t = performance.now();
      const result = await cache.get(key);
      hitMs.push(performance.now() - t);
      if (result?.text === undefined) throw new Error(`item ${i} missed on the second pass`);
    }
    if (cache.unavailable) throw cache.unavailable;
    const stats = cache.stats();
    return {
      items: ITEMS,
      key_median_us: us(median(keyMs)),
      get_miss_median_us: us(median(missMs)),
      get_miss_p95_us: us(p95(missMs)),
      put_median_us: us(median(putMs)),
      put_p95_us: us(p95(putMs)),
      get_hit_median_us: us(median(hitMs)),
      get_hit_p95_us: us(p95(hitMs)),
      first_run_overhead_median_us: us(median(keyMs) + median(missMs) + median(putMs)),
      repeat_run_overhead_median_us: us(median(hitKeyMs) + median(hitMs)),
      // Means include the tail: WAL checkpoints, garbage collection.
      first_run_overhead_mean_us: us(mean(keyMs) + mean(missMs) + mean(putMs)),
      repeat_run_overhead_mean_us: us(mean(hitKeyMs) + mean(hitMs)),
      cache_mb: Math.round((stats.bytes / 1024 ** 2) * 10) / 10,
    };
  } finally {
    cache.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
