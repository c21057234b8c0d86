import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/errors/provider-errors.js';
import { EmbeddingProvider, maxEmbeddingBatch } from '../../src/providers/embedding.js';
import type { ProviderRequest } from '../../src/providers/provider.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

function request(model: string, texts: string[], params: Record<string, unknown> = {}): ProviderRequest {
  return { task: 'embedding', model, prompt: '', texts, params };
}

describe('EmbeddingProvider against the emulator', () => {
  let t: TestEmulator;
  const provider = new EmbeddingProvider();
  beforeAll(async () => {
    t = await startTestEmulator();
  });
  afterAll(() => t.close());

  it('returns one vector per text, in order, with tokens and billable characters', async () => {
    const texts = ['first text', 'second one here', 'third'];
    const result = await provider.call(t.client(), request('text-embedding-005', texts, { output_dimensionality: 64, task_type: 'RETRIEVAL_DOCUMENT' }));
    expect(result.vectors).toHaveLength(3);
    for (const vector of result.vectors ?? []) expect(vector).toHaveLength(64);
    expect(result.usage.inputTokens).toBe(2 + 3 + 1);
    expect(result.usage.characters).toBe('firsttextsecondonehere third'.replace(/\s/g, '').length);
    const alone = await provider.call(t.client(), request('text-embedding-005', ['third'], { output_dimensionality: 64, task_type: 'RETRIEVAL_DOCUMENT' }));
    expect(alone.vectors?.[0]).toEqual(result.vectors?.[2]);
    expect(t.stats().projects['test-project']?.by_model['text-embedding-005']?.input_tokens).toBe(7);
  });

  it('uses the prompt when no texts are given', async () => {
    const result = await provider.call(t.client(), { task: 'embedding', model: 'gemini-embedding-001', prompt: 'only this', params: {} });
    expect(result.vectors?.[0]).toHaveLength(3072);
  });

  it('fails the call as an invalid request when the batch is larger than the model takes', async () => {
    expect(maxEmbeddingBatch('gemini-embedding-001')).toBe(1);
    expect(maxEmbeddingBatch('text-embedding-005')).toBe(250);
    await expect(provider.call(t.client(), request('gemini-embedding-001', ['a', 'b']))).rejects.toBeInstanceOf(InvalidRequestError);
    const tooMany = Array.from({ length: 251 }, (_, i) => `t${i}`);
    const error = await provider.call(t.client(), request('text-embedding-005', tooMany)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ httpStatus: 400, apiStatus: 'INVALID_ARGUMENT' });
  });
});
