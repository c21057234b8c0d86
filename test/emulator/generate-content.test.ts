import { ApiError } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

const MODEL = 'gemini-2.5-flash';

const ARTICLE_SCHEMA = {
  type: 'object',
  properties: {
    title: { type: 'string' },
    summary: { type: 'string', maxLength: 200 },
    tone: { type: 'string', enum: ['calm', 'bold', 'playful'] },
    tags: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 5 },
    rating: { type: 'integer', minimum: 1, maximum: 5 },
    score: { type: 'number' },
    published: { type: 'boolean' },
    author: { type: 'object', properties: { name: { type: 'string' }, email: { type: 'string', format: 'email' } }, required: ['name', 'email'] },
  },
  required: ['title', 'summary', 'tone', 'tags', 'rating', 'score', 'published', 'author'],
};

/** The same schema in Vertex's uppercase OpenAPI dialect. */
function upper(schema: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...schema, type: String(schema.type).toUpperCase() };
  if (schema.properties) out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, upper(v as Record<string, unknown>)]));
  if (schema.items) out.items = upper(schema.items as Record<string, unknown>);
  return out;
}

describe('emulator :generateContent (text and JSON) through the SDK', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator({ models: { 'gemini-2.5-pro': { output_tokens: { mean: 600, sd: 0 }, thoughts_tokens: { mean: 120, sd: 0 } } } });
  });
  afterAll(() => t.close());

  it('answers with Vertex shape: candidates, usage totals, model version and response id', async () => {
    const response = await t.client().models.generateContent({ model: MODEL, contents: 'Write an intro for a post about SQLite.' });
    const candidate = response.candidates?.[0];
    expect(candidate?.finishReason).toBe('STOP');
    expect(candidate?.content?.role).toBe('model');
    expect(response.text?.length).toBeGreaterThan(50);
    const usage = response.usageMetadata;
    expect(usage?.promptTokenCount).toBeGreaterThan(0);
    expect(usage?.candidatesTokenCount).toBeGreaterThan(0);
    // gemini-2.5-flash thinks when the request sets no budget; thinking is in the total.
    expect(usage?.thoughtsTokenCount).toBeGreaterThan(0);
    expect(usage?.totalTokenCount).toBe((usage?.promptTokenCount ?? 0) + (usage?.candidatesTokenCount ?? 0) + (usage?.thoughtsTokenCount ?? 0));
    expect(response.modelVersion).toBe(MODEL);
    expect(response.responseId).toMatch(/^[\w-]{10,}$/);
  });

  it('samples each ask of a prompt afresh, and varies between prompts', async () => {
    const ask = async (contents: string) => (await t.client().models.generateContent({ model: MODEL, contents })).text;
    const first = await ask('Describe a harbour at dawn.');
    const second = await ask('Describe a harbour at dawn.');
    expect(second).not.toBe(first);
    expect(second?.length).toBeGreaterThan(0);
    expect(await ask('Describe a library at night.')).not.toBe(first);
  });

  it('draws reply lengths that vary around the model mean, about 4 characters per token', async () => {
    const counts: number[] = [];
    for (let i = 0; i < 12; i++) {
      const response = await t.client().models.generateContent({ model: MODEL, contents: `Post number ${i} about databases` });
      const tokens = response.usageMetadata?.candidatesTokenCount ?? 0;
      counts.push(tokens);
      const charsPerToken = (response.text?.length ?? 0) / tokens;
      expect(charsPerToken).toBeGreaterThan(3);
      expect(charsPerToken).toBeLessThan(6);
    }
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
    expect(new Set(counts).size).toBeGreaterThan(6);
    expect(mean).toBeGreaterThan(150);
    expect(mean).toBeLessThan(350);
  });

  it('uses the configured output distribution and reports thinking tokens', async () => {
    const response = await t.client().models.generateContent({ model: 'gemini-2.5-pro', contents: 'Explain WAL mode.' });
    expect(response.usageMetadata?.candidatesTokenCount).toBeGreaterThanOrEqual(595);
    expect(response.usageMetadata?.candidatesTokenCount).toBeLessThanOrEqual(600);
    expect(response.usageMetadata?.thoughtsTokenCount).toBe(120);
    // Pro cannot turn thinking off (test/emulator/thinking.test.ts); Flash can.
    const noThinking = await t
      .client()
      .models.generateContent({ model: MODEL, contents: 'Explain WAL mode.', config: { thinkingConfig: { thinkingBudget: 0 } } });
    expect(noThinking.usageMetadata?.thoughtsTokenCount).toBeUndefined();
  });

  it('cuts the reply at maxOutputTokens with finishReason MAX_TOKENS', async () => {
    // Thinking off: the visible reply has all of maxOutputTokens (thinking inside it: thinking.test.ts).
    const response = await t
      .client()
      .models.generateContent({ model: MODEL, contents: 'A long essay please', config: { maxOutputTokens: 20, thinkingConfig: { thinkingBudget: 0 } } });
    expect(response.candidates?.[0]?.finishReason).toBe('MAX_TOKENS');
    expect(response.usageMetadata?.candidatesTokenCount).toBeLessThanOrEqual(20);
    expect(response.usageMetadata?.candidatesTokenCount).toBeGreaterThan(10);
  });

  it('counts the same prompt tokens in :countTokens as in promptTokenCount (system and schema included)', async () => {
    const config = { systemInstruction: 'You write for engineers.', responseMimeType: 'application/json', responseSchema: upper(ARTICLE_SCHEMA) };
    const contents = 'PostgreSQL vs MySQL vs SQLite | Which Database Should You Choose? 2024 edition';
    const generated = await t.client().models.generateContent({ model: MODEL, contents, config });
    const counted = await t.client().models.countTokens({
      model: MODEL,
      contents,
      config: {
        systemInstruction: config.systemInstruction,
        generationConfig: { responseMimeType: config.responseMimeType, responseSchema: config.responseSchema },
      },
    });
    expect(counted.totalTokens).toBe(generated.usageMetadata?.promptTokenCount);
    const plain = await t.client().models.countTokens({ model: MODEL, contents });
    expect(plain.totalTokens).toBeLessThan(counted.totalTokens ?? 0);
  });

  it.each([
    ['lowercase JSON Schema', ARTICLE_SCHEMA],
    ['uppercase Vertex schema', upper(ARTICLE_SCHEMA)],
  ])('returns JSON that satisfies a %s', async (_label, schema) => {
    const check = z.fromJSONSchema(ARTICLE_SCHEMA as Parameters<typeof z.fromJSONSchema>[0]);
    for (const topic of ['hiking boots', 'sourdough', 'kubernetes upgrades']) {
      const response = await t.client().models.generateContent({
        model: MODEL,
        contents: `An article card about ${topic}`,
        config: { responseMimeType: 'application/json', responseSchema: schema },
      });
      const value = JSON.parse(response.text ?? '') as Record<string, unknown>;
      const result = check.safeParse(value);
      expect(result.success, JSON.stringify(result.error?.issues)).toBe(true);
      expect(String(value.summary).split(' ').length).toBeGreaterThan(3);
      expect(String(value.title).length).toBeLessThan(80);
    }
  });

  it('refuses a blocked prompt through promptFeedback', async () => {
    const response = await t.client().models.generateContent({ model: MODEL, contents: 'Tell me something [unsafe]' });
    expect(response.promptFeedback?.blockReason).toBe('SAFETY');
    expect(response.candidates).toBeUndefined();
  });

  it('rejects malformed requests with 400 INVALID_ARGUMENT', async () => {
    const error = await t
      .client()
      .models.generateContent({ model: MODEL, contents: 'hello', config: { labels: { 'Bad Key': 'x' } } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect(JSON.parse((error as ApiError).message).error.status).toBe('INVALID_ARGUMENT');

    const imageOnText = await t
      .client()
      .models.generateContent({ model: MODEL, contents: 'a cat', config: { responseModalities: ['IMAGE'] } })
      .catch((e: unknown) => e);
    expect((imageOnText as ApiError).status).toBe(400);
  });
});
