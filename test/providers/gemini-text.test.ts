import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadResponseError, InvalidRequestError, TruncatedReplyError } from '../../src/errors/provider-errors.js';
import { GeminiTextProvider } from '../../src/providers/gemini-text.js';
import type { ProviderRequest, Usage } from '../../src/providers/provider.js';
import { toVertexSchema } from '../../src/providers/vertex-schema.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

const BRIEF_SCHEMA = {
  type: 'object',
  properties: { image_prompt: { type: 'string' }, alt_text: { type: 'string' }, mood: { type: 'string', enum: ['calm', 'bold'] } },
  required: ['image_prompt', 'alt_text', 'mood'],
};

function request(prompt: string, extra: Partial<ProviderRequest> = {}): ProviderRequest {
  return { task: 'text', model: 'gemini-2.5-flash', prompt, params: {}, ...extra };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('GeminiTextProvider against the emulator', () => {
  let t: TestEmulator;
  const provider = new GeminiTextProvider();
  beforeAll(async () => {
    // gemini-2.5-flash-lite is set to break its schema on every reply, for the BadResponseError test.
    t = await startTestEmulator({ models: { 'gemini-2.5-pro': { thoughts_tokens: { mean: 80, sd: 0 } }, 'gemini-2.5-flash-lite': { bad_json_rate: 1 } } });
  });
  afterAll(() => t.close());

  it('returns the text with its usage, model version and response id', async () => {
    const result = await provider.call(
      t.client(),
      request('Write an intro about SQLite.', { system: 'Be brief.', temperature: 0.2, labels: { genbatch_job: 'Blog Hero Images!' } }),
    );
    expect(result.text?.length).toBeGreaterThan(20);
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    // No thinking budget in the request: gemini-2.5-flash thinks dynamically, as on Vertex.
    expect(result.usage.thoughtsTokens).toBeGreaterThan(0);
    expect(result.modelVersion).toBe('gemini-2.5-flash');
    expect(result.responseId).toBeTruthy();
    expect(t.stats().projects['test-project']?.by_model['gemini-2.5-flash']).toMatchObject({
      ok: 1,
      output_tokens: result.usage.outputTokens + result.usage.thoughtsTokens,
    });
  });

  it('reports thinking tokens from usageMetadata', async () => {
    const result = await provider.call(t.client(), request('Think hard.', { model: 'gemini-2.5-pro' }));
    expect(result.usage.thoughtsTokens).toBe(80);
  });

  it('returns parsed JSON that matches the schema, in schema order', async () => {
    const result = await provider.call(t.client(), request('Image brief for: PostgreSQL vs MySQL', { jsonSchema: BRIEF_SCHEMA }));
    const json = result.json as Record<string, string>;
    expect(Object.keys(json)).toEqual(['image_prompt', 'alt_text', 'mood']);
    expect(['calm', 'bold']).toContain(json.mood);
    expect(result.text).toBe(JSON.stringify(json));
  });

  it('sends the schema in Vertex dialect', () => {
    expect(
      toVertexSchema({
        type: 'object',
        properties: { tags: { type: 'array', items: { type: 'string' } }, note: { type: ['string', 'null'] } },
        additionalProperties: false,
      }),
    ).toEqual({
      type: 'OBJECT',
      properties: { tags: { type: 'ARRAY', items: { type: 'STRING' } }, note: { type: 'STRING', nullable: true } },
      propertyOrdering: ['tags', 'note'],
    });
    expect(() => toVertexSchema({ $ref: '#/$defs/x' })).toThrow(InvalidRequestError);
  });

  it('throws BadResponseError, with the billed usage, when the reply breaks the schema', async () => {
    const schema = { type: 'object', properties: { sku: { type: 'string', pattern: '^[0-9]+$' } }, required: ['sku'] };
    const error = await failure(provider.call(t.client(), request('A product card', { model: 'gemini-2.5-flash-lite', jsonSchema: schema })));
    expect(error).toBeInstanceOf(BadResponseError);
    expect((error as Error).message).toMatch(/does not match the step's schema/);
    expect((error as { usage?: Usage }).usage?.outputTokens).toBeGreaterThan(0);
  });

  it('throws TruncatedReplyError (billed, not retried) when a JSON reply is cut at max_output_tokens', async () => {
    const error = await failure(provider.call(t.client(), request('A long brief', { jsonSchema: BRIEF_SCHEMA, maxOutputTokens: 15 })));
    expect(error).toBeInstanceOf(TruncatedReplyError);
    expect(error).toMatchObject({ code: 'TRUNCATED', retryable: false, finishReason: 'MAX_TOKENS' });
    expect((error as Error).message).toMatch(/cut at max_output_tokens \(15[,)]/);
    expect((error as { usage?: Usage }).usage?.outputTokens).toBeLessThanOrEqual(15);
  });

  it('returns filtered for a blocked prompt instead of throwing', async () => {
    const result = await provider.call(t.client(), request('Please write [unsafe] things'));
    expect(result.filtered?.reason).toMatch(/prompt blocked \(SAFETY\)/);
    expect(result.text).toBeUndefined();
  });

  it('refuses unknown params before sending anything', async () => {
    const before = t.stats().projects['test-project']?.requests ?? 0;
    const error = await failure(provider.call(t.client(), request('x', { params: { top_q: 0.5 } })));
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).message).toContain('did you mean "top_p"');
    expect(t.stats().projects['test-project']?.requests ?? 0).toBe(before);
  });

  it('passes the caller abort signal', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await failure(provider.call(t.client(), request('x', { signal: controller.signal })));
    expect(error).toMatchObject({ code: 'OUTCOME_UNKNOWN' });
  });

  it('leaves no timer or abort listener behind after a call: a long run keeps its memory', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const run = new AbortController();
    const before = timers();
    for (let i = 0; i < 20; i++) await provider.call(t.client(), request(`Note ${i} on timers.`, { timeoutMs: 120_000, signal: run.signal }));
    // @google/genai 2 left its own timeout armed after each successful call, for two minutes.
    expect(timers() - before).toBeLessThan(5);
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(0);
  });
});
