import { describe, expect, it } from 'vitest';
import { contextCachePlan } from '../../src/estimate/context-cache-plan.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import type { Step } from '../../src/job/job.js';

const catalog = PriceCatalog.load();
type PlanStep = Pick<Step, 'name' | 'task' | 'model' | 'mode' | 'contextCache'>;
const step = (extra: Partial<PlanStep> = {}): PlanStep => ({ name: 's', task: 'text', model: 'gemini-2.5-flash', ...extra });

describe('the catalog prices cache storage per model, per 1M token-hours', () => {
  it('Vertex list prices: $1.00 on Flash, Flash-Lite and 2.0, $4.50 on Pro; none for images', () => {
    expect(catalog.contextCachePrices('gemini-2.5-flash')).toEqual({ inputPer1m: 0.3, cachedPer1m: 0.03, storagePer1mTokenHours: 1 });
    expect(catalog.contextCachePrices('gemini-2.5-pro')?.storagePer1mTokenHours).toBe(4.5);
    expect(catalog.contextCachePrices('gemini-2.5-flash-lite')?.storagePer1mTokenHours).toBe(1);
    expect(catalog.contextCachePrices('gemini-2.0-flash')?.storagePer1mTokenHours).toBe(1);
    expect(catalog.contextCachePrices('gemini-2.5-flash-image')).toBeUndefined();
    // tokenCount x seconds alive / 3600 token-hours x price: 3,000 tokens for 30 minutes on Flash.
    expect(catalog.cacheStorageCost('gemini-2.5-flash', 3000, 1800)).toBeCloseTo(0.0015, 10);
  });
});

describe('contextCachePlan: the discount on the items left against the storage for the run', () => {
  it('the issue: 3,000 tokens of style guide over 1,000 items on Flash: the discount ($0.81) far outweighs an hour of storage', () => {
    const plan = contextCachePlan({ step: step(), items: 1000, prefixTokens: 3000, catalog, caches: 1, seconds: 3600, onlineUsd: 2 });
    expect(plan).toMatchObject({ setting: 'auto', use: true, prefix_tokens: 3000, discount_usd: 0.81, storage_usd: 0.003, caches: 1, hours: 1 });
    expect(plan?.reason).toMatch(/^it pays: discount \$0\.8100 on 1000 items vs storage \$0\.0030 for 1\.0 h in 1 project\/location\(s\)/);
  });

  it('does not pay for few items over a long run in many places; on forces it, off and short prefixes never', () => {
    const few = { step: step(), items: 3, prefixTokens: 3000, catalog, caches: 4, seconds: 7200, onlineUsd: 0.01 };
    expect(contextCachePlan(few)).toMatchObject({ use: false, reason: expect.stringMatching(/^it does not pay/) });
    expect(contextCachePlan({ ...few, step: step({ contextCache: 'on' }) })).toMatchObject({ use: true, reason: expect.stringMatching(/^context_cache: on/) });
    expect(contextCachePlan({ ...few, items: 1000, step: step({ contextCache: 'off' }) })).toMatchObject({ use: false, reason: 'context_cache: off' });
    expect(contextCachePlan({ ...few, items: 1000, prefixTokens: 500 })).toMatchObject({
      use: false,
      reason: expect.stringMatching(/Vertex caches 2048 at least/),
    });
    expect(contextCachePlan({ ...few, step: step({ task: 'image', model: 'gemini-2.5-flash-image' }) })).toBeUndefined();
  });

  it('mode: auto: online with a cache against a batch (whose discount does not stack with the cache one), the cheaper wins', () => {
    const base = { step: step({ mode: 'auto' as const }), items: 1000, prefixTokens: 3000, catalog, caches: 1, seconds: 600 };
    // A short JSON reply: the prefix is most of the request, so the cache beats the batch's half price.
    const online = contextCachePlan({ ...base, onlineUsd: 1.21, batchUsd: 0.605 });
    expect(online?.mode).toMatchObject({ chosen: 'online', batch_usd: 0.605 });
    expect(online?.mode?.online_usd).toBeCloseTo(1.21 - 0.81 + 0.0005, 6);
    expect(online?.mode?.reason).toMatch(/online with the cache \$0\.4005 is less than a batch \$0\.6050/);
    expect(online?.use).toBe(true);
    // Long replies: output dominates, and the batch halves it.
    const batch = contextCachePlan({ ...base, onlineUsd: 3.71, batchUsd: 1.855 });
    expect(batch).toMatchObject({
      use: false,
      mode: { chosen: 'batch' },
      reason: expect.stringMatching(/^mode: auto runs a batch: a batch \$1\.8550 is less than online/),
    });
  });
});
