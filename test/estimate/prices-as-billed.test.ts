import { describe, expect, it } from 'vitest';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage, type Usage } from '../../src/providers/provider.js';

const catalog = PriceCatalog.load();
const usage = (fields: Partial<Usage>): Usage => ({ ...emptyUsage(), ...fields });

describe('model names match the catalog exactly', () => {
  it('a near miss is neither known nor priced (it was priced as gemini-2.5-flash by prefix)', () => {
    for (const model of ['gemini-2.5-flash-img', 'gemini-2.5-flash-001', 'imagen-4.0-fast', 'veo-3.0-fast', 'text-embedding-005x']) {
      expect(catalog.has(model), model).toBe(false);
      expect(catalog.cost(model, usage({ inputTokens: 1000, outputTokens: 1000, images: 5, videoSeconds: 8 })), model).toBe(0);
    }
    expect(catalog.has('gemini-2.5-flash-image')).toBe(true);
    // 5 images of the real model: about $0.19, where the misspelt one was priced $0.0001.
    expect(catalog.cost('gemini-2.5-flash-image', usage({ inputTokens: 20, outputTokens: 5 * 1290, images: 5 }))).toBeCloseTo(0.193506, 6);
  });

  it('an alias Vertex serves is the same model at the same price', () => {
    expect(catalog.priceOf('gemini-2.0-flash')).toEqual(catalog.priceOf('gemini-2.0-flash-001'));
    expect(catalog.serves('gemini-2.0-flash', 'vertex')).toBe(true);
  });

  it("a job's own prices: entry is a name a step may use", () => {
    const custom = PriceCatalog.load({ 'my-tuned-gemini': { input_per_1m: 0.5, output_per_1m: 3 } });
    expect(custom.has('my-tuned-gemini')).toBe(true);
    expect(custom.has('my-tuned-gemini-2')).toBe(false);
  });

  it('the nearest names come first: a cut-short or suffixed name finds its model', () => {
    expect(catalog.nearestModels('gemini-2.5-flash-img')[0]).toBe('gemini-2.5-flash-image');
    expect(catalog.nearestModels('imagn-4.0-fast')[0]).toBe('imagen-4.0-fast-generate-001');
    expect(catalog.nearestModels('veo-3.0-fast')[0]).toBe('veo-3.0-fast-generate-001');
  });
});

describe('prices as billed', () => {
  it('cached tokens cost the cached price: 10% of input on Gemini 2.5, 25% on Gemini 2.0', () => {
    const none = catalog.cost('gemini-2.5-flash', usage({ inputTokens: 1_000_000 }));
    const all = catalog.cost('gemini-2.5-flash', usage({ inputTokens: 1_000_000, cachedTokens: 1_000_000 }));
    expect(none).toBeCloseTo(0.3, 9);
    expect(all).toBeCloseTo(0.03, 9);
    expect(catalog.cost('gemini-2.0-flash-001', usage({ inputTokens: 1_000_000, cachedTokens: 1_000_000 }))).toBeCloseTo(0.0375, 9);
  });

  it('provisioned throughput is $0; other traffic types are priced at list price', () => {
    const u = usage({ inputTokens: 1000, outputTokens: 500, thoughtsTokens: 100 });
    expect(catalog.cost('gemini-2.5-flash', { ...u, trafficType: 'PROVISIONED_THROUGHPUT' })).toBe(0);
    expect(catalog.cost('gemini-2.5-flash', { ...u, trafficType: 'ON_DEMAND' })).toBeCloseTo(catalog.cost('gemini-2.5-flash', u), 12);
  });

  it('batch: half price, except cached tokens, which cost the cached price (the discounts do not stack)', () => {
    const u = usage({ inputTokens: 10_000, cachedTokens: 8_000, outputTokens: 1000 });
    const expected = ((2_000 * 0.3 + 1000 * 2.5) * 0.5 + 8_000 * 0.03) / 1e6;
    expect(catalog.batchCost('gemini-2.5-flash', u)).toBeCloseTo(expected, 12);
    // A model with no cached price: cached tokens cost the (batch) input price.
    const custom = PriceCatalog.load({ 'my-tuned-gemini': { input_per_1m: 1, output_per_1m: 4 } });
    expect(custom.batchCost('my-tuned-gemini', usage({ inputTokens: 1000, cachedTokens: 1000 }))).toBeCloseTo(0.0005, 12);
  });

  it('a usage stored before cached tokens were recorded (none given) costs what it did', () => {
    const old = { inputTokens: 1000, outputTokens: 100, thoughtsTokens: 0, images: 0, videoSeconds: 0, characters: 0 } as unknown as Usage;
    expect(catalog.cost('gemini-2.5-flash', old)).toBeCloseTo((1000 * 0.3 + 100 * 2.5) / 1e6, 12);
  });

  it('Veo 3 is priced with audio unless generate_audio: false; Veo 2 has one price', () => {
    expect(catalog.cost('veo-3.0-generate-001', usage({ videoSeconds: 8 }), { withAudio: true })).toBeCloseTo(3.2, 9);
    expect(catalog.cost('veo-3.0-generate-001', usage({ videoSeconds: 8 }))).toBeCloseTo(1.6, 9);
    expect(catalog.cost('veo-2.0-generate-001', usage({ videoSeconds: 8 }), { withAudio: true })).toBeCloseTo(4, 9);
  });
});
