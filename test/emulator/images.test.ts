import type { ApiError } from '@google/genai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

const GEMINI_IMAGE = 'gemini-2.5-flash-image';
const IMAGEN = 'imagen-4.0-fast-generate-001';

describe('emulator image generation through the SDK', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator();
  });
  afterAll(() => t.close());

  async function geminiImage(prompt: string, aspectRatio?: string) {
    return t.client().models.generateContent({
      model: GEMINI_IMAGE,
      contents: prompt,
      config: { responseModalities: ['TEXT', 'IMAGE'], ...(aspectRatio ? { imageConfig: { aspectRatio } } : {}) },
    });
  }

  function pngOf(response: Awaited<ReturnType<typeof geminiImage>>): Buffer {
    const data = response.candidates?.[0]?.content?.parts?.find((p) => p.inlineData)?.inlineData;
    expect(data?.mimeType).toBe('image/png');
    return Buffer.from(data?.data ?? '', 'base64');
  }

  it.each([
    ['16:9', 1344, 768],
    ['1:1', 1024, 1024],
    ['9:16', 768, 1344],
    ['4:3', 1184, 864],
    ['3:4', 864, 1184],
    [undefined, 1024, 1024],
  ])('renders a real PNG at the size of aspect ratio %s', async (ratio, width, height) => {
    const response = await geminiImage('A lighthouse on a cliff', ratio);
    const meta = await sharp(pngOf(response)).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([width, height]);
    expect(response.usageMetadata?.candidatesTokenCount).toBe(1290);
  });

  it('paints a new picture for each ask of a prompt, and a different one for another prompt', async () => {
    const a = pngOf(await geminiImage('Hero image: PostgreSQL vs MySQL', '16:9'));
    const b = pngOf(await geminiImage('Hero image: PostgreSQL vs MySQL', '16:9'));
    const c = pngOf(await geminiImage('Hero image: baking sourdough at home', '16:9'));
    expect(a.equals(b)).toBe(false);
    const [pa, pc] = await Promise.all([a, c].map((png) => sharp(png).resize(32, 18).raw().toBuffer()));
    let difference = 0;
    for (let i = 0; i < (pa?.length ?? 0); i++) difference += Math.abs((pa?.[i] ?? 0) - (pc?.[i] ?? 0));
    // Visibly different: a large mean difference per channel on a thumbnail.
    expect(difference / (pa?.length ?? 1)).toBeGreaterThan(10);
  });

  it('refuses a blocked prompt with IMAGE_SAFETY and no image', async () => {
    const response = await geminiImage('a poster [unsafe]');
    expect(response.candidates?.[0]?.finishReason).toBe('IMAGE_SAFETY');
    expect(response.candidates?.[0]?.content?.parts ?? []).toHaveLength(0);
  });

  it('answers Imagen :predict with sampleCount images in the requested format', async () => {
    const png = await t.client().models.generateImages({ model: IMAGEN, prompt: 'a red fox', config: { numberOfImages: 3, aspectRatio: '16:9' } });
    expect(png.generatedImages).toHaveLength(3);
    const sizes = await Promise.all((png.generatedImages ?? []).map(async (g) => sharp(Buffer.from(g.image?.imageBytes ?? '', 'base64')).metadata()));
    for (const meta of sizes) expect([meta.format, meta.width, meta.height]).toEqual(['png', 1408, 768]);
    expect(new Set(png.generatedImages?.map((g) => g.image?.imageBytes)).size).toBe(3);

    const jpeg = await t.client().models.generateImages({ model: IMAGEN, prompt: 'a red fox', config: { numberOfImages: 1, outputMimeType: 'image/jpeg' } });
    const image = jpeg.generatedImages?.[0]?.image;
    expect(image?.mimeType).toBe('image/jpeg');
    expect((await sharp(Buffer.from(image?.imageBytes ?? '', 'base64')).metadata()).format).toBe('jpeg');
  });

  it('returns raiFilteredReason for a blocked Imagen prompt', async () => {
    const response = await t
      .client()
      .models.generateImages({ model: IMAGEN, prompt: 'something [unsafe]', config: { numberOfImages: 2, includeRaiReason: true } });
    expect(response.generatedImages?.[0]?.raiFilteredReason).toMatch(/safety filter/);
    expect(response.generatedImages?.[0]?.image?.imageBytes).toBeUndefined();
  });

  it('refuses a seed while the watermark is on, as Vertex does', async () => {
    const error = await t
      .client()
      .models.generateImages({ model: IMAGEN, prompt: 'a fox', config: { numberOfImages: 1, seed: 5 } })
      .catch((e: unknown) => e);
    expect((error as ApiError).status).toBe(400);
    const ok = await t.client().models.generateImages({ model: IMAGEN, prompt: 'a fox', config: { numberOfImages: 1, seed: 5, addWatermark: false } });
    expect(ok.generatedImages).toHaveLength(1);
  });

  it('counts images and image tokens in the stats', async () => {
    await t.fetchStats();
    const before = t.stats().projects['test-project'];
    await geminiImage('one more picture');
    await t.client().models.generateImages({ model: IMAGEN, prompt: 'two more', config: { numberOfImages: 2 } });
    const after = (await t.fetchStats()).projects['test-project'];
    expect((after?.images ?? 0) - (before?.images ?? 0)).toBe(3);
    expect((after?.by_model[GEMINI_IMAGE]?.output_tokens ?? 0) - (before?.by_model[GEMINI_IMAGE]?.output_tokens ?? 0)).toBe(1290);
  });
});
