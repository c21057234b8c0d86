import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTextTokens } from '../../src/emulator/token-count.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import {
  declaredOutputTokens,
  declaredThinkingTokens,
  maxThinkingTokens,
  requestsFor,
  thinkingBudgetOf,
  worstCaseCost,
} from '../../src/estimate/step-usage.js';
import { heuristicTokens, typicalTokens } from '../../src/estimate/token-counter.js';
import type { Step } from '../../src/job/job.js';
import { GeminiTextProvider } from '../../src/providers/gemini-text.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

const catalog = PriceCatalog.load();

function step(model: string, extra: Partial<Step> = {}): Step {
  return { name: 's', task: 'text', model, prompt: 'p', params: {}, maxAttempts: 3, timeoutMs: 60_000, maxOutputTokens: 200, ...extra };
}

/** A deterministic generator of mixed-script texts: every kind of piece a tokenizer splits on. */
function mixedTexts(n: number): string[] {
  const pieces = [
    ...'abcXYZé ',
    '\u0301',
    '\uFE0F',
    '中',
    '文',
    'あ',
    'カ',
    '한',
    'ж',
    'Ω',
    'ก',
    'क',
    'ि',
    '1',
    '٣',
    'Ⅻ',
    '!',
    '。',
    '—',
    '\n',
    '\t',
    '   ',
    '😀',
    '👨‍👩‍👧',
    '𠀀',
    '𝐀',
    '\u200d',
    '\u00a0',
    '\u3000',
    'ª',
    'Ａ',
    'Python',
    'database',
  ];
  let seed = 12;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: n }, () => Array.from({ length: Math.floor(random() * 60) }, () => pieces[Math.floor(random() * pieces.length)]).join(''));
}

describe('prompt tokens for the worst case never fall short', () => {
  it('heuristicTokens is at least the emulator count for every text, whatever its scripts', () => {
    const short = mixedTexts(20_000).filter((text) => heuristicTokens(text) < countTextTokens(text));
    expect(short).toEqual([]);
  });

  it('counts a CJK character, emoji or other non-Latin letter as at least one token; Latin at 3 letters per token', () => {
    expect(heuristicTokens('中'.repeat(30_000))).toBe(30_000);
    expect(heuristicTokens('데이터베이스'.repeat(100))).toBe(600);
    expect(heuristicTokens('данные')).toBe(6);
    expect(heuristicTokens('😀')).toBeGreaterThanOrEqual(1);
    expect(heuristicTokens('database')).toBe(3);
    // English prose: above the emulator's count and Gemini's (~4 characters per token).
    const prose = 'What we learned running PostgreSQL in production: the mistakes, the fixes, and the numbers.';
    expect(heuristicTokens(prose)).toBeGreaterThan(prose.length / 4);
  });

  it('the emulator counts one token per CJK character, also right after a Latin word (as Gemini does)', () => {
    expect(countTextTokens('中文'.repeat(100))).toBe(200);
    expect(countTextTokens('AI' + '中'.repeat(100))).toBe(101);
    expect(countTextTokens('包括AI和Python的例子')).toBe(8); // 包 括 AI 和 Python 的 例 子
  });

  it('typicalTokens (estimates) counts CJK one per character and English near 4 characters per token', () => {
    expect(typicalTokens('中'.repeat(1000))).toBe(1000);
    const prose = 'What we learned running PostgreSQL in production: the mistakes, the fixes, and the numbers.';
    expect(typicalTokens(prose)).toBeLessThan(heuristicTokens(prose));
    expect(typicalTokens(prose)).toBeGreaterThan(prose.length / 6);
  });
});

describe('the output bound includes thinking, inside max_output_tokens', () => {
  const perToken = 2.5 / 1e6;

  it('a thinking model always gets a budget: the step’s, else the catalog default lowered to half of max_output_tokens', () => {
    const roomy = { maxOutputTokens: 8000 };
    expect(thinkingBudgetOf(step('gemini-2.5-flash', roomy), catalog)).toBe(1024);
    expect(thinkingBudgetOf(step('gemini-2.5-flash', { ...roomy, params: { thinking_budget: 4000 } }), catalog)).toBe(4000);
    // Names match exactly: a versioned name the catalog does not list is not taken for gemini-2.5-flash.
    expect(thinkingBudgetOf(step('gemini-2.5-flash-002', roomy), catalog)).toBeUndefined();
    // max_output_tokens 200: the default 1,024 would leave no reply; it is lowered to 100.
    expect(thinkingBudgetOf(step('gemini-2.5-flash'), catalog)).toBe(100);
    // No max_output_tokens: the model's longest reply (65,536) leaves room for every default.
    expect(thinkingBudgetOf(step('gemini-2.5-pro', { maxOutputTokens: undefined }), catalog)).toBe(2048);
    // Dynamic thinking (-1) is bounded by the model's limit.
    expect(maxThinkingTokens(step('gemini-2.5-flash', { maxOutputTokens: undefined, params: { thinking_budget: -1 } }), catalog)).toBe(24576);
  });

  it('the worst case is max_output_tokens, thinking included, whatever the budget', () => {
    const off = worstCaseCost(step('gemini-2.5-flash', { params: { thinking_budget: 0 } }), 100, catalog);
    expect(worstCaseCost(step('gemini-2.5-flash'), 100, catalog)).toBeCloseTo(off, 10);
    expect(worstCaseCost(step('gemini-2.5-flash', { params: { thinking_budget: 100 } }), 100, catalog)).toBeCloseTo(off, 10);
    const input = worstCaseCost(step('gemini-2.5-flash', { maxOutputTokens: 1, params: { thinking_budget: 0 } }), 100, catalog);
    expect(off - input).toBeCloseTo(199 * perToken, 10);
    // No max_output_tokens: the model's longest reply, 65,536 tokens, thinking inside it.
    const open = worstCaseCost(step('gemini-2.5-flash', { maxOutputTokens: undefined }), 100, catalog);
    expect(open - input).toBeCloseTo((65_536 - 1) * perToken, 10);
  });

  it('gemini-2.5-pro always thinks, at least 128 tokens; flash-lite only when asked', () => {
    expect(maxThinkingTokens(step('gemini-2.5-pro', { maxOutputTokens: 8000 }), catalog)).toBe(2048);
    expect(maxThinkingTokens(step('gemini-2.5-pro', { maxOutputTokens: 300 }), catalog)).toBe(150);
    expect(maxThinkingTokens(step('gemini-2.5-flash-lite'), catalog)).toBe(0);
    expect(maxThinkingTokens(step('gemini-2.5-flash-lite', { maxOutputTokens: 2000, params: { thinking_budget: 600 } }), catalog)).toBe(600);
  });

  it('the worst case counts the response schema the request carries', () => {
    const schema = { type: 'object', properties: { image_prompt: { type: 'string' }, alt_text: { type: 'string' } }, required: ['image_prompt'] };
    const plain = worstCaseCost(step('gemini-2.5-flash'), 100, catalog);
    const withSchema = worstCaseCost(step('gemini-2.5-flash', { jsonSchema: schema }), 100, catalog);
    expect(withSchema).toBeGreaterThan(plain);
  });

  it('a price override of a thinking model keeps its thinking bounds', () => {
    const negotiated = PriceCatalog.load({ 'gemini-2.5-flash': { input_per_1m: 0.2, output_per_1m: 2 } });
    expect(thinkingBudgetOf(step('gemini-2.5-flash', { maxOutputTokens: 4000 }), negotiated)).toBe(1024);
    const custom = PriceCatalog.load({
      'my-tuned-gemini': { input_per_1m: 0.5, output_per_1m: 3, thinking: { default_budget: 512, min_budget: 1, max_budget: 8192, can_turn_off: true } },
    });
    expect(maxThinkingTokens(step('my-tuned-gemini', { maxOutputTokens: 4000 }), custom)).toBe(512);
  });

  it('estimates expect thinking: 20% / 60% / 100% of the budget sent, and the reply the rest of max_output_tokens', () => {
    expect(declaredThinkingTokens(step('gemini-2.5-flash', { maxOutputTokens: 4000 }), catalog)).toEqual([205, 614, 1024]);
    expect(declaredThinkingTokens(step('gemini-2.5-flash'), catalog)).toEqual([20, 60, 100]);
    expect(declaredOutputTokens(step('gemini-2.5-flash'), catalog)).toEqual([20, 60, 100]);
    expect(declaredOutputTokens(step('gemini-2.5-flash', { maxOutputTokens: 4000 }), catalog)).toEqual([595, 1786, 2976]);
    expect(declaredThinkingTokens(step('gemini-2.5-flash-lite'), catalog)).toEqual([0, 0, 0]);
    expect(declaredOutputTokens(step('gemini-2.5-flash-lite'), catalog)).toEqual([40, 120, 200]);
    expect(declaredThinkingTokens(step('gemini-2.5-flash', { task: 'image' }), catalog)).toEqual([0, 0, 0]);
  });

  it('batched embeddings take one request per batch_size items (default 5, one per request for gemini-embedding-001)', () => {
    expect(requestsFor(step('text-embedding-005', { task: 'embedding', batchSize: 10 }), 600)).toBe(60);
    expect(requestsFor(step('text-embedding-005', { task: 'embedding' }), 23)).toBe(5);
    expect(requestsFor(step('gemini-embedding-001', { task: 'embedding', batchSize: 10 }), 600)).toBe(600);
    expect(requestsFor(step('gemini-2.5-flash'), 600)).toBe(600);
  });
});

describe('the thinking budget is sent, and the emulator bounds thinking by it as Vertex does', () => {
  let t: TestEmulator;
  const provider = new GeminiTextProvider();
  beforeAll(async () => {
    t = await startTestEmulator({ seed: 3, models: { 'gemini-2.5-flash': { thoughts_tokens: { mean: 3000, sd: 300 } } } });
  });
  afterAll(() => t.close());

  it('with the engine’s budget thinking stays within it; without one it does not', async () => {
    const request = { task: 'text' as const, model: 'gemini-2.5-flash', prompt: 'Explain WAL mode.', params: {} };
    const bounded = await provider.call(t.client(), { ...request, thinkingBudget: 1024 });
    expect(bounded.usage.thoughtsTokens).toBe(1024);
    const stepParam = await provider.call(t.client(), { ...request, prompt: 'Explain MVCC.', params: { thinking_budget: 300 }, thinkingBudget: 300 });
    expect(stepParam.usage.thoughtsTokens).toBe(300);
    const unbounded = await provider.call(t.client(), { ...request, prompt: 'Explain vacuum.' });
    expect(unbounded.usage.thoughtsTokens).toBeGreaterThan(1024);
  });
});
