import { GoogleGenAI } from '@google/genai';
import { describe, expect, it } from 'vitest';
import { apiError, useResetEmulator } from '../helpers/emulator-client.js';

/**
 * A model name Vertex does not serve is a 404 NOT_FOUND, whatever it starts with: the emulator
 * answered any `gemini-*` or `imagen-*` name with 200, so a misspelt model looked fine offline and
 * failed every call on Vertex.
 */

const KEY = 'AIzaSyUnknownModelTest-0123456789abcdefg';

describe('emulator: unknown model names', () => {
  const t = useResetEmulator({});
  const vertex = (): GoogleGenAI =>
    new GoogleGenAI({ vertexai: true, project: 'p1', location: 'us-central1', apiKey: 'test-key', httpOptions: { baseUrl: t.url } });

  it("answers Vertex's 404 body through the real SDK for a near miss of a real model (gemini-2.5-flash-img)", async () => {
    const error = await apiError(vertex().models.generateContent({ model: 'gemini-2.5-flash-img', contents: 'a lighthouse' }));
    expect(error.status).toBe(404);
    expect(error.body).toEqual({
      code: 404,
      status: 'NOT_FOUND',
      message:
        'Publisher Model `projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash-img` was not found or your project does not have access to it. Please ensure you are using a valid model version. For more information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions',
    });
    // Names cut short or versioned beyond what Vertex serves are refused the same way.
    for (const model of ['imagen-4.0-fast', 'veo-3.0-fast']) {
      const call = model.startsWith('imagen')
        ? vertex().models.generateImages({ model, prompt: 'a lighthouse', config: { numberOfImages: 1 } })
        : vertex().models.generateVideos({ model, source: { prompt: 'a lighthouse' } });
      expect((await apiError(call)).status).toBe(404);
    }
    // The real names answer.
    await vertex().models.generateContent({ model: 'gemini-2.5-flash-image', contents: 'a lighthouse', config: { responseModalities: ['IMAGE'] } });
    expect(t.emu.log().map((entry) => [entry.model, entry.status])).toEqual([
      ['gemini-2.5-flash-img', 404],
      ['imagen-4.0-fast', 404],
      ['veo-3.0-fast', 404],
      ['gemini-2.5-flash-image', 200],
    ]);
  });

  it("answers the Gemini API's own 404 shape for a model it does not serve", async () => {
    const client = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: t.url } });
    const error = await apiError(client.models.generateContent({ model: 'gemini-2.5-flash-img', contents: 'hi' }));
    expect(error.status).toBe(404);
    expect(error.body).toEqual({
      code: 404,
      status: 'NOT_FOUND',
      message:
        'models/gemini-2.5-flash-img is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of supported models and their supported methods.',
    });
  });
});
