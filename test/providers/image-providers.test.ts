import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/errors/provider-errors.js';
import { GeminiImageProvider } from '../../src/providers/gemini-image.js';
import { ImagenProvider } from '../../src/providers/imagen.js';
import type { ProviderRequest } from '../../src/providers/provider.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

function request(model: string, prompt: string, params: Record<string, unknown> = {}): ProviderRequest {
  return { task: 'image', model, prompt, params };
}

describe('image providers against the emulator', () => {
  let t: TestEmulator;
  const gemini = new GeminiImageProvider();
  const imagen = new ImagenProvider();
  beforeAll(async () => {
    t = await startTestEmulator();
  });
  afterAll(() => t.close());

  it('Gemini image: returns a PNG at the aspect ratio asked, billed as 1290 output tokens', async () => {
    const result = await gemini.call(t.client(), request('gemini-2.5-flash-image', 'Hero image for a post on SQLite', { aspect_ratio: '16:9' }));
    expect(result.media).toHaveLength(1);
    const image = result.media?.[0];
    expect(image?.mimeType).toBe('image/png');
    const meta = await sharp(image?.data).metadata();
    expect([meta.width, meta.height]).toEqual([1344, 768]);
    expect(result.usage).toMatchObject({ images: 1, outputTokens: 1290 });
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.filtered).toBeUndefined();
  });

  it('Gemini image: a safety refusal becomes filtered with its reason', async () => {
    const result = await gemini.call(t.client(), request('gemini-2.5-flash-image', 'poster [unsafe]'));
    expect(result.filtered?.reason).toMatch(/IMAGE_SAFETY/);
    expect(result.media).toBeUndefined();
    expect(result.usage.images).toBe(0);
  });

  it('Imagen: sample_count images in the asked format, counted in usage', async () => {
    const result = await imagen.call(
      t.client(),
      request('imagen-4.0-generate-001', 'a red fox in snow', { sample_count: 2, output_mime_type: 'image/jpeg', aspect_ratio: '1:1' }),
    );
    expect(result.media).toHaveLength(2);
    expect(result.usage.images).toBe(2);
    for (const image of result.media ?? []) {
      expect(image.mimeType).toBe('image/jpeg');
      const meta = await sharp(image.data).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1024, 1024]);
    }
  });

  it('Imagen: a seed works without asking for the watermark to be turned off', async () => {
    const a = await imagen.call(t.client(), request('imagen-4.0-fast-generate-001', 'a fox', { seed: 11 }));
    const b = await imagen.call(t.client(), request('imagen-4.0-fast-generate-001', 'a fox', { seed: 11 }));
    expect(a.media?.[0]?.data.equals(b.media?.[0]?.data ?? Buffer.alloc(0))).toBe(true);
  });

  it('Imagen: raiFilteredReason becomes filtered', async () => {
    const result = await imagen.call(t.client(), request('imagen-4.0-generate-001', 'a scene [unsafe]'));
    expect(result.filtered?.reason).toMatch(/safety filter/);
    expect(result.usage.images).toBe(0);
  });

  it('Imagen: a mistyped parameter is refused before any call', async () => {
    await expect(imagen.call(t.client(), request('imagen-4.0-generate-001', 'x', { sample_count: '2' }))).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(imagen.call(t.client(), request('imagen-4.0-generate-001', 'x', { aspect: '1:1' }))).rejects.toThrow(/did you mean "aspect_ratio"/);
  });
});
