import { describe, expect, it } from 'vitest';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { countPromptTokens } from '../../src/estimate/prompt-tokens.js';
import { estimateStep, type MeasuredCost } from '../../src/estimate/step-estimate.js';
import { declaredOutputTokens, usageOf } from '../../src/estimate/step-usage.js';
import type { TokenCounter } from '../../src/estimate/token-counter.js';
import type { Step } from '../../src/job/job.js';

const catalog = PriceCatalog.load();
const FLASH = 'gemini-2.5-flash';

function step(extra: Partial<Step> = {}): Step {
  return { name: 's', task: 'text', model: FLASH, prompt: 'p', params: {}, maxAttempts: 3, timeoutMs: 60_000, maxOutputTokens: 200, ...extra };
}

/** One token per character, so that counts can be read off the texts. */
const charCounter: TokenCounter = { method: 'heuristic', count: (_model: string, text: string) => Promise.resolve(text.length) };

describe('estimateStep: what the items left of one step cost', () => {
  it('before anything is measured: from max_output_tokens and the prices, per item times the items', () => {
    const s = step({ params: { thinking_budget: 0 } });
    const estimate = estimateStep({ step: s, items: 10, perItemInput: 100, measured: undefined, catalog, batchMinItems: 1000 });
    expect(estimate).toMatchObject({ step: 's', task: 'text', model: FLASH, items: 10, requests: 10, input_tokens: 1000, basis: 'max_output_tokens' });
    // The high end: a reply of the whole max_output_tokens the thinking budget leaves.
    expect(declaredOutputTokens(s, catalog)[2]).toBe(200);
    expect(estimate.output_tokens.high).toBe(2000);
    expect(estimate.usd.high).toBeCloseTo(10 * catalog.cost(FLASH, usageOf(s, 100, 200, catalog)), 4);
    expect(estimate.usd.low).toBeLessThan(estimate.usd.expected);
    expect(estimate.fallbacks).toBeUndefined();
  });

  it('typical sizes without max_output_tokens; a fallback model is priced on the same sizes', () => {
    const s = step({ maxOutputTokens: undefined, fallback: ['gemini-2.5-pro'] });
    const estimate = estimateStep({ step: s, items: 4, perItemInput: 50, measured: undefined, catalog, batchMinItems: 1000 });
    expect(estimate.basis).toBe('typical');
    expect(estimate.fallbacks?.map((f) => f.model)).toEqual(['gemini-2.5-pro']);
    // Pro costs more than Flash for the same tokens.
    expect(estimate.fallbacks?.[0]?.usd.expected).toBeGreaterThan(estimate.usd.expected);
  });

  it('an `auto` step with at least batch.min_items waiting is priced at the batch price', () => {
    const s = step({ mode: 'auto' });
    const online = estimateStep({ step: s, items: 100, perItemInput: 100, measured: undefined, catalog, batchMinItems: 1000 });
    const batch = estimateStep({ step: s, items: 100, perItemInput: 100, measured: undefined, catalog, batchMinItems: 100 });
    expect(batch.usd.expected).toBeLessThan(online.usd.expected);
  });

  it('after a pilot: the measured cost per call times the items, with a 95% interval', () => {
    const measured: MeasuredCost = { calls: 4, meanUsd: 0.01, sdUsd: 0.002, meanOutput: 300, meanDurationMs: 800 };
    const estimate = estimateStep({ step: step(), items: 100, perItemInput: 100, measured, catalog, batchMinItems: 1000 });
    const sd = Math.sqrt(100 * 0.002 ** 2 + (100 * 0.002) ** 2 / 4);
    expect(estimate).toMatchObject({ basis: 'pilot', output_tokens: { low: 30_000, expected: 30_000, high: 30_000 }, thinking_tokens: { expected: 0 } });
    expect(estimate.usd.expected).toBeCloseTo(1, 6);
    expect(estimate.usd.high).toBeCloseTo(1 + 1.96 * sd, 4);
    // Nothing left: the declaration, not the measurement.
    expect(estimateStep({ step: step(), items: 0, perItemInput: 0, measured, catalog, batchMinItems: 1000 }).basis).toBe('max_output_tokens');
  });
});

describe('countPromptTokens', () => {
  it('counts each step on every row; an earlier step’s fields count as its expected output spread over its fields', async () => {
    const first = step({ name: 'a', prompt: 'x{{title}}', jsonSchema: { type: 'object', properties: { one: {}, two: {} } } });
    const second = step({ name: 'b', prompt: 'y{{steps.a.one}}' });
    const rows = [{ title: 'abc' }, { title: 'abcdef' }];
    const counted = await countPromptTokens({ steps: [first, second], styles: {} }, rows, charCounter, new Map([['a', 40]]));
    expect(counted.sampled).toBe(2);
    const schema = JSON.stringify(first.jsonSchema).length;
    expect(counted.byStep.get('a')).toBe(4 + schema + 7 + schema);
    // "y" plus an empty field, plus 40 / 2 fields per row.
    expect(counted.byStep.get('b')).toBe(2 * (1 + 20));
  });
});
