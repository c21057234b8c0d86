import { describe, expect, it } from 'vitest';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';

describe('prices per API', () => {
  const catalog = PriceCatalog.load();
  const text = { ...emptyUsage(), inputTokens: 1_000_000, outputTokens: 1_000_000 };

  it('the Gemini API serves the models its list names; Vertex AI every priced model', () => {
    for (const model of ['gemini-2.5-flash', 'gemini-2.5-flash-lite', 'gemini-2.5-pro', 'gemini-2.5-flash-image', 'gemini-embedding-001']) {
      expect([model, catalog.serves(model, 'gemini')]).toEqual([model, true]);
    }
    for (const model of ['imagen-4.0-fast-generate-001', 'veo-3.0-generate-001', 'text-embedding-005']) {
      expect([model, catalog.serves(model, 'gemini'), catalog.serves(model, 'vertex')]).toEqual([model, false, true]);
    }
    expect(catalog.serves('no-such-model', 'vertex')).toBe(false);
  });

  it('prices a call for the API that answered it (the same list prices for the models both serve)', () => {
    expect(catalog.cost('gemini-2.5-flash', text, { api: 'gemini' })).toBe(catalog.cost('gemini-2.5-flash', text, { api: 'vertex' }));
    expect(catalog.cost('gemini-2.5-flash', text, { api: 'gemini' })).toBeCloseTo(0.3 + 2.5, 10);
  });

  it('a job price override holds on both APIs, and makes the Gemini API serve a custom model', () => {
    const custom = PriceCatalog.load({ 'gemini-2.5-flash': { input_per_1m: 1, output_per_1m: 1 }, 'my-tuned-model': { input_per_1m: 2, output_per_1m: 2 } });
    expect(custom.cost('gemini-2.5-flash', text, { api: 'gemini' })).toBeCloseTo(2, 10);
    expect(custom.serves('my-tuned-model', 'gemini')).toBe(true);
  });
});
