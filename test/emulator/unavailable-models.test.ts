import { createHash } from 'node:crypto';
import { GoogleGenAI } from '@google/genai';
import { describe, expect, it } from 'vitest';
import { parseEmulatorConfig, type EmulatorConfigInput } from '../../src/emulator/index.js';
import { apiError, useResetEmulator } from '../helpers/emulator-client.js';

/**
 * What fallback chains are rehearsed with: a model a project cannot use (`unavailable_models`,
 * 404 on both APIs) and a project whose Imagen quota is spent while its Gemini image model works.
 */

const IMAGEN = 'imagen-4.0-fast-generate-001';
const GEMINI_IMAGE = 'gemini-2.5-flash-image';
const FLASH = 'gemini-2.5-flash';
const KEY = 'AIzaSyUnavailableTest-0123456789abcdefgh';
const KEY_PROJECT = `aistudio-${createHash('sha256').update(KEY).digest('hex').slice(0, 8)}`;

const CONFIG: EmulatorConfigInput = {
  projects: {
    'no-imagen': { unavailable_models: [IMAGEN] },
    'imagen-spent': { models: { [IMAGEN]: { exhaust_after: 0 } } },
    [KEY_PROJECT]: { unavailable_models: [FLASH], models: { [IMAGEN]: { exhaust_after: 0 } } },
  },
};

function vertex(url: string, project: string): GoogleGenAI {
  return new GoogleGenAI({ vertexai: true, project, location: 'us-central1', apiKey: 'test-key', httpOptions: { baseUrl: url } });
}

function imagenOnGemini(url: string): Promise<Response> {
  return fetch(`${url}/v1beta/models/${IMAGEN}:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY },
    body: JSON.stringify({ instances: [{ prompt: 'a lighthouse' }], parameters: { sampleCount: 1 } }),
  });
}

describe('emulator: unavailable models and per-model exhaustion', () => {
  const t = useResetEmulator(CONFIG);

  it("answers Vertex's 404 for a model the project cannot use, unbilled, while its other models work", async () => {
    const client = vertex(t.url, 'no-imagen');
    const error = await apiError(client.models.generateImages({ model: IMAGEN, prompt: 'a lighthouse', config: { numberOfImages: 1 } }));
    expect(error.status).toBe(404);
    expect(error.body).toEqual({
      code: 404,
      status: 'NOT_FOUND',
      message: `Publisher Model \`projects/no-imagen/locations/us-central1/publishers/google/models/${IMAGEN}\` was not found or your project does not have access to it. Please ensure you are using a valid model version. For more information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions`,
    });
    await client.models.generateContent({ model: GEMINI_IMAGE, contents: 'a lighthouse', config: { responseModalities: ['IMAGE'] } });

    const stats = await t.fetchStats();
    expect(stats.projects['no-imagen']?.by_model[IMAGEN]).toMatchObject({ requests: 1, not_found_404: 1, ok: 0, images: 0 });
    expect(stats.projects['no-imagen']?.by_model[GEMINI_IMAGE]).toMatchObject({ requests: 1, ok: 1, images: 1 });
    expect(t.emu.log().map((entry) => [entry.model, entry.status])).toEqual([
      [IMAGEN, 404],
      [GEMINI_IMAGE, 200],
    ]);
    // Another project is not affected.
    await vertex(t.url, 'elsewhere').models.generateImages({ model: IMAGEN, prompt: 'a lighthouse', config: { numberOfImages: 1 } });
  });

  it("answers the Gemini API's 404 for a key project's unavailable model", async () => {
    const client = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: t.url } });
    const error = await apiError(client.models.generateContent({ model: FLASH, contents: 'hi' }));
    expect(error.body).toEqual({
      code: 404,
      status: 'NOT_FOUND',
      message: `models/${FLASH} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of supported models and their supported methods.`,
    });
    await client.models.generateContent({ model: 'gemini-2.5-flash-lite', contents: 'hi' });
    expect((await t.fetchStats()).projects[KEY_PROJECT]).toMatchObject({ api: 'gemini', requests: 2, not_found_404: 1, ok: 1 });
  });

  it('exhausts one model of a project (Imagen) while its Gemini image model still answers, on both APIs', async () => {
    const client = vertex(t.url, 'imagen-spent');
    const spent = await apiError(client.models.generateImages({ model: IMAGEN, prompt: 'a lighthouse', config: { numberOfImages: 1 } }));
    expect(spent.status).toBe(429);
    expect(spent.body.message).toMatch(/per_day/);
    const image = await client.models.generateContent({ model: GEMINI_IMAGE, contents: 'a lighthouse', config: { responseModalities: ['IMAGE'] } });
    expect(image.candidates?.[0]?.content?.parts?.some((p) => p.inlineData)).toBe(true);

    const onGemini = await imagenOnGemini(t.url);
    expect(onGemini.status).toBe(429);
    const { error } = (await onGemini.json()) as { error: { details: { '@type': string; violations?: { quotaId: string }[] }[] } };
    expect(error.details.find((d) => d['@type'].endsWith('QuotaFailure'))?.violations?.[0]?.quotaId).toBe('GenerateRequestsPerDayPerProjectPerModel');
    const geminiImage = await new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: t.url } }).models.generateContent({
      model: GEMINI_IMAGE,
      contents: 'a lighthouse',
      config: { responseModalities: ['IMAGE'] },
    });
    expect(geminiImage.candidates?.[0]?.content?.parts?.some((p) => p.inlineData)).toBe(true);

    const stats = await t.fetchStats();
    expect(stats.projects['imagen-spent']?.by_model[IMAGEN]).toMatchObject({ requests: 1, rejected_429: 1, ok: 0 });
    expect(stats.projects[KEY_PROJECT]?.by_model[IMAGEN]).toMatchObject({ requests: 1, rejected_429: 1, ok: 0 });
  });

  it('refuses a batch job for an unavailable model with the same 404', async () => {
    const response = await fetch(`${t.url}/v1beta1/projects/no-imagen/locations/us-central1/batchPredictionJobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k' },
      body: JSON.stringify({
        displayName: 'j',
        model: `publishers/google/models/${FLASH}`,
        inputConfig: { instancesFormat: 'jsonl', gcsSource: { uris: ['gs://b/in.jsonl'] } },
        outputConfig: { predictionsFormat: 'jsonl', gcsDestination: { outputUriPrefix: 'gs://b/out/' } },
      }),
    });
    expect(response.status).toBe(400); // the input does not exist: the model itself is available
    t.emu.setConfig(parseEmulatorConfig({ ...CONFIG, projects: { 'no-imagen': { unavailable_models: [FLASH] } } }));
    const refused = await fetch(`${t.url}/v1beta1/projects/no-imagen/locations/us-central1/batchPredictionJobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k' },
      body: JSON.stringify({ displayName: 'j', model: `publishers/google/models/${FLASH}` }),
    });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain(
      `Publisher Model \`projects/no-imagen/locations/us-central1/publishers/google/models/${FLASH}\` was not found`,
    );
  });
});
