import { describe, expect, it } from 'vitest';
import { ImagenProvider } from '../../src/providers/imagen.js';
import { useResetEmulator } from '../helpers/emulator-client.js';

/**
 * Imagen with includeSafetyAttributes: each image carries its scores and the last prediction is the
 * prompt's own (`contentType: "Positive Prompt"`), not an image. Only predictions with bytes are
 * images, and only they are billed.
 */
describe('emulator: Imagen safety attributes', () => {
  const t = useResetEmulator({});

  it('adds a trailing Positive Prompt prediction when asked, and bills only the images', async () => {
    const res = await fetch(`${t.url}/v1beta1/projects/p1/locations/us-central1/publishers/google/models/imagen-4.0-fast-generate-001:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
      body: JSON.stringify({ instances: [{ prompt: 'a lighthouse' }], parameters: { sampleCount: 2, includeSafetyAttributes: true, includeRaiReason: true } }),
    });
    expect(res.status).toBe(200);
    const { predictions } = (await res.json()) as { predictions: Record<string, unknown>[] };
    expect(predictions).toHaveLength(3);
    expect(predictions.slice(0, 2).every((p) => typeof p.bytesBase64Encoded === 'string' && p.safetyAttributes !== undefined)).toBe(true);
    expect(predictions[2]).toEqual({ contentType: 'Positive Prompt', safetyAttributes: { categories: [], scores: [] } });
    expect((await t.fetchStats()).projects.p1?.images).toBe(2);
  });

  it('through the real SDK, genbatch keeps the two images and prices two', async () => {
    const client = t.client('p1');
    const response = await client.models.generateImages({
      model: 'imagen-4.0-fast-generate-001',
      prompt: 'a lighthouse',
      config: { numberOfImages: 2, includeSafetyAttributes: true },
    });
    expect(response.generatedImages).toHaveLength(2);
    expect(response.positivePromptSafetyAttributes?.contentType).toBe('Positive Prompt');
    const result = await new ImagenProvider().call(client, {
      task: 'image',
      model: 'imagen-4.0-fast-generate-001',
      prompt: 'a lighthouse',
      params: { sample_count: 2 },
    });
    expect(result.media).toHaveLength(2);
    expect(result.usage.images).toBe(2);
  });
});
