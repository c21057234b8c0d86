import { ApiError } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

/**
 * A prompt above the model's context window is answered as Vertex answers it: 400 INVALID_ARGUMENT
 * with "The input token count (N) exceeds the maximum number of tokens allowed (M)." — and no tokens
 * are billed for it. The emulator counts one token per CJK character, so 1,048,577 of them are one
 * token over Gemini 2.5 Flash's window of 1,048,576.
 */
describe('emulator: the context window', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator();
  });
  afterAll(() => t.close());

  async function refusal(model: string, contents: string): Promise<ApiError> {
    const error = await t
      .client()
      .models.generateContent({ model, contents })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }

  it('refuses a prompt one token over the window of gemini-2.5-flash with Vertex’s 400 body, and bills nothing', async () => {
    const before = t.stats().projects['test-project']?.input_tokens ?? 0;
    const error = await refusal('gemini-2.5-flash', '漢'.repeat(1_048_577));
    expect(error.status).toBe(400);
    expect(JSON.parse(error.message)).toEqual({
      error: {
        code: 400,
        message: 'The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).',
        status: 'INVALID_ARGUMENT',
      },
    });
    const after = t.stats().projects['test-project'];
    expect(after?.input_tokens ?? 0).toBe(before);
    expect(after?.by_model['gemini-2.5-flash']?.ok ?? 0).toBe(0);
  });

  it('answers a prompt exactly at the window', async () => {
    const response = await t.client().models.generateContent({ model: 'gemini-2.5-flash', contents: '漢'.repeat(1_048_576) });
    expect(response.usageMetadata?.promptTokenCount).toBe(1_048_576);
  });

  it('uses the image model’s smaller window (32,768 tokens), system instruction included', async () => {
    const error = await t
      .client()
      .models.generateContent({
        model: 'gemini-2.5-flash-image',
        contents: '漢'.repeat(30_000),
        config: { systemInstruction: '字'.repeat(3_000), responseModalities: ['TEXT', 'IMAGE'] },
      })
      .then(
        () => undefined,
        (e: unknown) => e as ApiError,
      );
    expect(error?.status).toBe(400);
    expect(JSON.parse(error?.message ?? '{}').error.message).toBe('The input token count (33000) exceeds the maximum number of tokens allowed (32768).');
  });

  it('still counts an over-long prompt with :countTokens (free), as Vertex does', async () => {
    const counted = await t.client().models.countTokens({ model: 'gemini-2.5-flash', contents: '漢'.repeat(1_100_000) });
    expect(counted.totalTokens).toBe(1_100_000);
  });
});
