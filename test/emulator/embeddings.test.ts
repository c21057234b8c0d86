import { ApiError } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

function norm(values: number[]): number {
  return Math.sqrt(values.reduce((sum, v) => sum + v * v, 0));
}

function cosine(a: number[], b: number[]): number {
  return a.reduce((sum, v, i) => sum + v * (b[i] ?? 0), 0) / (norm(a) * norm(b));
}

describe('emulator embeddings :predict through the SDK', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator();
  });
  afterAll(() => t.close());

  it('returns one deterministic unit vector per text with the model default size', async () => {
    const texts = ['PostgreSQL vs MySQL', 'Baking sourdough bread at home'];
    const response = await t.client().models.embedContent({ model: 'text-embedding-005', contents: texts });
    expect(response.embeddings).toHaveLength(2);
    for (const embedding of response.embeddings ?? []) {
      expect(embedding.values).toHaveLength(768);
      expect(norm(embedding.values ?? [])).toBeCloseTo(1, 5);
    }
    const again = await t.client().models.embedContent({ model: 'text-embedding-005', contents: texts });
    expect(again.embeddings?.[0]?.values).toEqual(response.embeddings?.[0]?.values);

    const single = await t.client().models.embedContent({ model: 'gemini-embedding-001', contents: 'one text' });
    expect(single.embeddings?.[0]?.values).toHaveLength(3072);
  });

  it('honours outputDimensionality and puts texts that share words closer together', async () => {
    const response = await t.client().models.embedContent({
      model: 'text-embedding-005',
      contents: ['how to tune postgresql for write heavy workloads', 'tuning postgresql for heavy write workloads', 'a recipe for lemon cake'],
      config: { outputDimensionality: 256 },
    });
    const [a, b, c] = (response.embeddings ?? []).map((e) => e.values ?? []);
    expect(a).toHaveLength(256);
    expect(cosine(a ?? [], b ?? [])).toBeGreaterThan(cosine(a ?? [], c ?? []) + 0.2);
  });

  it('reports token statistics and billable characters', async () => {
    const response = await t.client().models.embedContent({ model: 'text-embedding-005', contents: ['hello world', 'a b c'] });
    expect(response.embeddings?.[0]?.statistics).toEqual({ tokenCount: 2, truncated: false });
    expect(response.embeddings?.[1]?.statistics?.tokenCount).toBe(3);
    // Whitespace is not billed: "helloworld" + "abc".
    expect(response.metadata?.billableCharacterCount).toBe(13);
  });

  it('truncates over-long input unless autoTruncate is false', async () => {
    const long = 'word '.repeat(3000);
    const truncated = await t.client().models.embedContent({ model: 'text-embedding-005', contents: [long] });
    expect(truncated.embeddings?.[0]?.statistics).toEqual({ tokenCount: 2048, truncated: true });
    const refused = await t
      .client()
      .models.embedContent({ model: 'text-embedding-005', contents: [long], config: { autoTruncate: false } })
      .catch((e: unknown) => e);
    expect((refused as ApiError).status).toBe(400);
  });

  it('refuses more than 250 instances, and more than one for gemini-embedding-001', async () => {
    const tooMany = await t
      .client()
      .models.embedContent({ model: 'text-embedding-005', contents: Array.from({ length: 251 }, (_, i) => `text ${i}`) })
      .catch((e: unknown) => e);
    expect(tooMany).toBeInstanceOf(ApiError);
    expect((tooMany as ApiError).status).toBe(400);
    expect(JSON.parse((tooMany as ApiError).message).error.status).toBe('INVALID_ARGUMENT');

    const ok = await t
      .client()
      .models.embedContent({ model: 'text-embedding-005', contents: Array.from({ length: 250 }, (_, i) => `text ${i}`), config: { outputDimensionality: 8 } });
    expect(ok.embeddings).toHaveLength(250);

    const two = await t
      .client()
      .models.embedContent({ model: 'gemini-embedding-001', contents: ['a', 'b'] })
      .catch((e: unknown) => e);
    expect((two as ApiError).status).toBe(400);
    expect((two as ApiError).message).toMatch(/only supports one instance/);
  });
});
