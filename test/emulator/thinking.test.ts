import { ApiError, type GenerateContentResponse } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

/**
 * Thinking inside maxOutputTokens, as Vertex does it. Two replies recorded from the real
 * gemini-2.5-flash (issue 23): maxOutputTokens 20 with no thinking config gave 19 thinking tokens,
 * no parts, MAX_TOKENS; maxOutputTokens 200 with thinkingBudget 50 gave 42 thinking + 155 text
 * tokens, cut with MAX_TOKENS at 197.
 */
let t: TestEmulator;
beforeAll(async () => {
  t = await startTestEmulator({ seed: 5 });
});
afterAll(() => t.close());

const usageOf = (r: GenerateContentResponse): Record<string, unknown> => (r.usageMetadata ?? {}) as Record<string, unknown>;

async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('thinking counts against maxOutputTokens', () => {
  it('maxOutputTokens 20, no thinking config: dynamic thinking uses it all; no parts, MAX_TOKENS, no candidatesTokenCount', async () => {
    const r = await t.client().models.generateContent({ model: 'gemini-2.5-flash', contents: 'Why is the sky blue?', config: { maxOutputTokens: 20 } });
    const candidate = r.candidates?.[0];
    expect(candidate?.finishReason).toBe('MAX_TOKENS');
    expect(candidate?.content?.parts).toBeUndefined();
    expect(r.text).toBeUndefined();
    const usage = usageOf(r);
    expect(usage.thoughtsTokenCount).toBe(20);
    expect(usage).not.toHaveProperty('candidatesTokenCount');
    expect(usage.totalTokenCount).toBe((usage.promptTokenCount as number) + 20);
  });

  it('maxOutputTokens 200, thinkingBudget 50: thinking within the budget, the text cut at what is left, MAX_TOKENS', async () => {
    const r = await t.client().models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'Write a long essay about the sky.',
      config: { maxOutputTokens: 200, thinkingConfig: { thinkingBudget: 50 } },
    });
    const usage = usageOf(r);
    const thoughts = usage.thoughtsTokenCount as number;
    const text = usage.candidatesTokenCount as number;
    expect(thoughts).toBeGreaterThan(0);
    expect(thoughts).toBeLessThanOrEqual(50);
    expect(text).toBeGreaterThan(100);
    expect(thoughts + text).toBeLessThanOrEqual(200);
    expect(thoughts + text).toBeGreaterThan(190);
    expect(r.candidates?.[0]?.finishReason).toBe('MAX_TOKENS');
    expect(r.text?.length).toBeGreaterThan(0);
  });

  it('a reply that fits what thinking left ends with STOP; thinkingBudget 0 turns Flash thinking off', async () => {
    const r = await t.client().models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'Name a colour.',
      config: { maxOutputTokens: 4000, thinkingConfig: { thinkingBudget: 1024 } },
    });
    expect(r.candidates?.[0]?.finishReason).toBe('STOP');
    expect(usageOf(r).thoughtsTokenCount).toBeLessThanOrEqual(1024);
    const off = await t.client().models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'Name a colour.',
      config: { maxOutputTokens: 20, thinkingConfig: { thinkingBudget: 0 } },
    });
    expect(usageOf(off)).not.toHaveProperty('thoughtsTokenCount');
    expect(usageOf(off).candidatesTokenCount).toBeGreaterThan(10);
    expect(off.text?.length).toBeGreaterThan(0);
  });

  it('Flash-Lite thinks only when given a budget; Pro thinks with no thinking config', async () => {
    const lite = await t.client().models.generateContent({ model: 'gemini-2.5-flash-lite', contents: 'Name a colour.' });
    expect(usageOf(lite)).not.toHaveProperty('thoughtsTokenCount');
    const asked = await t
      .client()
      .models.generateContent({ model: 'gemini-2.5-flash-lite', contents: 'Name a colour.', config: { thinkingConfig: { thinkingBudget: 512 } } });
    expect(usageOf(asked).thoughtsTokenCount).toBeGreaterThan(0);
    expect(usageOf(asked).thoughtsTokenCount).toBeLessThanOrEqual(512);
    const pro = await t.client().models.generateContent({ model: 'gemini-2.5-pro', contents: 'Name a colour.' });
    expect(usageOf(pro).thoughtsTokenCount).toBeGreaterThan(0);
  });

  it('is deterministic: two fresh emulators with the same seed answer the same requests alike', async () => {
    const other = await startTestEmulator({ seed: 5 });
    try {
      const ask = (e: TestEmulator) =>
        e.client().models.generateContent({ model: 'gemini-2.5-pro', contents: 'Deterministic?', config: { maxOutputTokens: 3000 } });
      const [a, b] = [await ask(other), await ask(other)];
      const fresh = await startTestEmulator({ seed: 5 });
      try {
        const [c, d] = [await ask(fresh), await ask(fresh)];
        expect([usageOf(c).thoughtsTokenCount, usageOf(d).thoughtsTokenCount]).toEqual([usageOf(a).thoughtsTokenCount, usageOf(b).thoughtsTokenCount]);
        expect(c.text).toBe(a.text);
      } finally {
        await fresh.close();
      }
    } finally {
      await other.close();
    }
  });

  it('counts replies cut at MAX_TOKENS in /_emulator/stats, per project and per model', async () => {
    const e = await startTestEmulator({ seed: 9 });
    try {
      await e.client().models.generateContent({ model: 'gemini-2.5-flash', contents: 'Cut me.', config: { maxOutputTokens: 10 } });
      await e.client().models.generateContent({ model: 'gemini-2.5-flash', contents: 'Fit me.', config: { thinkingConfig: { thinkingBudget: 100 } } });
      const stats = await e.fetchStats();
      expect(stats.projects['test-project']).toMatchObject({ ok: 2, max_tokens: 1 });
      expect(stats.projects['test-project']?.by_model['gemini-2.5-flash']).toMatchObject({ ok: 2, max_tokens: 1 });
    } finally {
      await e.close();
    }
  });
});

describe('thinking budgets Vertex refuses (400 INVALID_ARGUMENT)', () => {
  it('Pro cannot turn thinking off', async () => {
    const error = await apiError(
      t.client().models.generateContent({ model: 'gemini-2.5-pro', contents: 'x', config: { thinkingConfig: { thinkingBudget: 0 } } }),
    );
    expect(error.status).toBe(400);
    expect(JSON.parse(error.message).error).toMatchObject({ status: 'INVALID_ARGUMENT', message: 'The model does not support setting thinking_budget to 0.' });
  });

  it.each([
    ['gemini-2.5-flash', 30_000, 'from 1 to 24576'],
    ['gemini-2.5-flash-lite', 100, 'from 512 to 24576'],
    ['gemini-2.5-pro', 64, 'from 128 to 32768'],
    ['gemini-2.5-pro', -2, 'from 128 to 32768'],
  ])('%s with thinkingBudget %i', async (model, thinkingBudget, range) => {
    const error = await apiError(t.client().models.generateContent({ model, contents: 'x', config: { thinkingConfig: { thinkingBudget } } }));
    expect(error.status).toBe(400);
    expect(JSON.parse(error.message).error.message).toContain(`thinking_budget is out of range; supported values are integers ${range}.`);
  });

  it('accepts -1 (dynamic thinking) on every 2.5 model and the ends of each range', async () => {
    for (const [model, budget] of [
      ['gemini-2.5-flash', -1],
      ['gemini-2.5-flash', 24_576],
      ['gemini-2.5-flash-lite', 512],
      ['gemini-2.5-pro', 128],
      ['gemini-2.5-pro', -1],
    ] as const) {
      const r = await t.client().models.generateContent({ model, contents: 'ok?', config: { thinkingConfig: { thinkingBudget: budget } } });
      expect(r.candidates?.[0]?.finishReason).toBe('STOP');
    }
  });
});
