import { describe, expect, it } from 'vitest';
import { autoModeChoice } from '../../src/engine/auto-mode.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import type { Step } from '../../src/job/job.js';

const catalog = PriceCatalog.load();
const GUIDE = Array.from({ length: 400 }, (_, i) => `Rule ${i + 1}: write plainly, in the active voice.`).join('\n');
const job = { styles: { guide: GUIDE }, limits: { concurrency: 8 } } as never;
const step = (extra: Partial<Step>): Step => ({
  name: 'copy',
  task: 'text',
  model: 'gemini-2.5-flash',
  prompt: '{{styles.guide}}\n\nDescribe {{title}}.',
  params: { thinking_budget: 0 },
  maxAttempts: 3,
  timeoutMs: 60_000,
  mode: 'auto',
  ...extra,
});
const request = { prompt: `${GUIDE}\n\nDescribe a stoneware mug.` };

describe('mode: auto with a cacheable prefix: the cheaper of a batch and online calls with the cache', () => {
  it('short replies: the prefix is most of each request, so the cache (90% off it) beats the batch (50% off all)', () => {
    const choice = autoModeChoice({ job, step: step({ maxOutputTokens: 60 }), items: 2000, request, catalog, places: 1, batchMinItems: 1000 });
    expect(choice?.chosen).toBe('online');
    expect(choice?.online_usd).toBeLessThan(choice?.batch_usd ?? 0);
  });

  it('long replies: output dominates and the batch halves it; context_cache: off or a mode that is not auto: no choice here', () => {
    expect(autoModeChoice({ job, step: step({ maxOutputTokens: 8000 }), items: 2000, request, catalog, places: 1, batchMinItems: 1000 })?.chosen).toBe('batch');
    expect(
      autoModeChoice({ job, step: step({ maxOutputTokens: 60, contextCache: 'off' }), items: 2000, request, catalog, places: 1, batchMinItems: 1000 }),
    ).toBeUndefined();
    expect(
      autoModeChoice({ job, step: step({ maxOutputTokens: 60, mode: 'batch' }), items: 2000, request, catalog, places: 1, batchMinItems: 1000 }),
    ).toBeUndefined();
  });
});
