import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { thinkingBudgetOf, worstCaseCost } from '../../src/estimate/step-usage.js';
import { thinkingPlan, thinkingProblems } from '../../src/estimate/thinking-budget.js';
import type { Step } from '../../src/job/job.js';
import { GeminiTextProvider } from '../../src/providers/gemini-text.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

const catalog = PriceCatalog.load();

function step(model: string, extra: Partial<Step> = {}): Step {
  return { name: 'brief', task: 'text', model, prompt: 'p', params: {}, maxAttempts: 3, timeoutMs: 60_000, ...extra };
}

describe('the thinking budget leaves the reply at least half of max_output_tokens', () => {
  it('lowers the catalog default to fit, and says so', () => {
    expect(thinkingPlan(step('gemini-2.5-flash', { maxOutputTokens: 400 }), catalog)).toEqual({ budget: 200, most: 200, loweredFrom: 1024 });
    expect(thinkingPlan(step('gemini-2.5-flash', { maxOutputTokens: 2048 }), catalog)).toEqual({ budget: 1024, most: 1024 });
    expect(thinkingPlan(step('gemini-2.5-pro', { maxOutputTokens: 1000 }), catalog)).toEqual({ budget: 500, most: 500, loweredFrom: 2048 });
    // Flash can stop thinking: when even its least (1 token) does not fit, it is sent 0.
    expect(thinkingPlan(step('gemini-2.5-flash', { maxOutputTokens: 1 }), catalog)).toEqual({ budget: 0, most: 0, loweredFrom: 1024 });
    // Flash-Lite's default is no thinking at all.
    expect(thinkingPlan(step('gemini-2.5-flash-lite', { maxOutputTokens: 200 }), catalog)).toEqual({ budget: 0, most: 0 });
    // Not a text step: nothing is sent.
    expect(thinkingBudgetOf(step('gemini-2.5-flash-image', { task: 'image' }), catalog)).toBeUndefined();
  });

  it('a step with no max_output_tokens keeps every default: the model replies up to 65,536 tokens', () => {
    expect(thinkingPlan(step('gemini-2.5-flash'), catalog)).toEqual({ budget: 1024, most: 1024 });
    expect(thinkingPlan(step('gemini-2.5-pro'), catalog)).toEqual({ budget: 2048, most: 2048 });
    expect(thinkingProblems(step('gemini-2.5-pro', { params: { thinking_budget: 32_768 } }), catalog)).toEqual([]);
    expect(thinkingProblems(step('gemini-2.5-flash', { params: { thinking_budget: -1 } }), catalog)).toEqual([]);
  });

  it('refuses a budget the step sets that leaves the reply less than half, naming the budget and max_output_tokens', () => {
    const [problem, ...rest] = thinkingProblems(step('gemini-2.5-flash', { maxOutputTokens: 400, params: { thinking_budget: 300 } }), catalog);
    expect(rest).toEqual([]);
    expect(problem?.keyPath).toBe('steps.brief.params.thinking_budget');
    expect(problem?.message).toBe(
      'step "brief" on gemini-2.5-flash: thinking_budget 300, more than half of max_output_tokens (400): the reply could be cut short or come back empty, and each such call is billed',
    );
    expect(problem?.hint).toMatch(/Lower thinking_budget to at most 200, or raise max_output_tokens to at least 600\.$/);
    expect(thinkingProblems(step('gemini-2.5-flash', { maxOutputTokens: 400, params: { thinking_budget: 200 } }), catalog)).toEqual([]);
  });

  it('refuses dynamic thinking (-1) under a max_output_tokens it could use up', () => {
    const [problem] = thinkingProblems(step('gemini-2.5-flash', { maxOutputTokens: 4000, params: { thinking_budget: -1 } }), catalog);
    expect(problem?.message).toMatch(
      /thinking_budget -1 \(dynamic thinking\) lets it think up to 24,576 tokens, more than half of max_output_tokens \(4,000\)/,
    );
    expect(problem?.hint).toMatch(/Lower thinking_budget to at most 2,000, or raise max_output_tokens to at least 49,152\.$/);
  });

  it('refuses budgets Vertex AI refuses: out of the model’s range, 0 on a model that always thinks', () => {
    const messages = (s: Step): string[] => thinkingProblems(s, catalog).map((p) => p.message);
    expect(messages(step('gemini-2.5-pro', { params: { thinking_budget: 0 } }))).toEqual([
      'step "brief" on gemini-2.5-pro: gemini-2.5-pro cannot turn thinking off: Vertex AI refuses thinking_budget 0 on every call',
    ]);
    expect(messages(step('gemini-2.5-flash-lite', { params: { thinking_budget: 100 } }))).toEqual([
      'step "brief" on gemini-2.5-flash-lite: thinking_budget 100 is outside what gemini-2.5-flash-lite takes 512–24,576, 0 (no thinking) or -1 (dynamic thinking): Vertex AI refuses it on every call',
    ]);
    expect(messages(step('gemini-2.5-flash', { params: { thinking_budget: 30_000 } }))[0]).toMatch(/outside what gemini-2.5-flash takes 1–24,576/);
    expect(messages(step('gemini-2.5-flash', { params: { thinking_budget: 1.5 } }))).toEqual(['thinking_budget must be a whole number of tokens, got 1.5']);
  });

  it('a model that always thinks and whose least does not fit is refused at max_output_tokens', () => {
    const [problem] = thinkingProblems(step('gemini-2.5-pro', { maxOutputTokens: 200 }), catalog);
    expect(problem?.keyPath).toBe('steps.brief.max_output_tokens');
    expect(problem?.message).toMatch(/gemini-2.5-pro always thinks, at least 128 tokens, and that is more than half of max_output_tokens \(200\)/);
    expect(problem?.hint).toMatch(/Raise max_output_tokens to at least 256/);
  });

  it('checks every model of the step: a fallback that cannot fit is refused too', () => {
    const problems = thinkingProblems(step('gemini-2.5-flash', { maxOutputTokens: 200, fallback: ['gemini-2.5-pro'] }), catalog);
    expect(problems.map((p) => p.message)).toEqual([expect.stringMatching(/^step "brief" on gemini-2.5-pro: gemini-2.5-pro always thinks/)]);
  });

  it('reserves the same budget the estimate counts: max_output_tokens in all, thinking included', () => {
    const s = step('gemini-2.5-flash', { maxOutputTokens: 400 });
    const inputOnly = worstCaseCost({ ...s, maxOutputTokens: 1, params: { thinking_budget: 0 } }, 50, catalog);
    expect(worstCaseCost(s, 50, catalog) - inputOnly).toBeCloseTo((400 - 1) * (2.5 / 1e6), 10);
  });
});

describe('with the lowered budget the reply keeps its half on the emulator', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    // A model that would think 3,000 tokens: only the budget holds it back.
    t = await startTestEmulator({ seed: 4, models: { 'gemini-2.5-flash': { thoughts_tokens: { mean: 3000, sd: 300 } } } });
  });
  afterAll(() => t.close());

  it('max_output_tokens 400: thinking stops at 200, the JSON reply comes back whole (STOP)', async () => {
    const s = step('gemini-2.5-flash', { maxOutputTokens: 400, jsonSchema: { type: 'object', properties: { image_prompt: { type: 'string' } } } });
    const provider = new GeminiTextProvider();
    const request = { task: 'text' as const, model: s.model, prompt: 'Image brief for a post on WAL mode', params: {}, maxOutputTokens: 400 };
    for (let i = 0; i < 20; i++) {
      const result = await provider.call(t.client(), {
        ...request,
        prompt: `${request.prompt} #${i}`,
        ...(s.jsonSchema ? { jsonSchema: s.jsonSchema } : {}),
        thinkingBudget: thinkingBudgetOf(s, catalog),
      });
      expect(result.usage.thoughtsTokens).toBe(200);
      expect(result.json).toBeDefined();
    }
    expect(t.stats().projects['test-project']).toMatchObject({ ok: 20, max_tokens: 0 });
  });
});
