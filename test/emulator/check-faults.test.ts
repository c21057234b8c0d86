import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configError } from '../helpers/config-error.js';
import { parseEmulatorConfig } from '../../src/emulator/index.js';
import { drawImageFault, drawTextFault } from '../../src/emulator/fake-check-faults.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

/** Issue 28 point 4: the emulator fails quality checks on purpose, per model, drawn per ask. */

const TEXT = 'gemini-2.5-flash';
const JUDGE = 'gemini-2.5-flash-lite';
const IMAGE = 'gemini-2.5-flash-image';
const IMAGEN = 'imagen-4.0-fast-generate-001';

function wordCount(text: string): number {
  return text.split(/\s+/).filter((w) => w !== '').length;
}

async function stdev(image: Buffer): Promise<number> {
  const { channels } = await sharp(image).stats();
  return Math.max(...channels.slice(0, 3).map((c) => c.stdev));
}

describe('emulator check_faults: config', () => {
  it('reads the faults and the judge per model, with defaults', () => {
    const config = parseEmulatorConfig({
      models: {
        [TEXT]: {
          check_faults: {
            too_short: { rate: 0.1 },
            phrases: [{ rate: 0.05, text: 'As an AI language model' }],
            language: { rate: 0.05 },
            blank_image: { rate: 0.1 },
            wrong_size_image: { rate: 0.1, width: 300 },
          },
        },
        [JUDGE]: { judge: { marker: '[weak]' } },
      },
    });
    expect(config.models[TEXT]?.check_faults?.too_short).toEqual({ rate: 0.1, words: 8 });
    expect(config.models[TEXT]?.check_faults?.language).toEqual({ rate: 0.05, language: 'de' });
    expect(config.models[JUDGE]?.judge).toEqual({ marker: '[weak]', low: 1, high: 5 });
  });

  it('names the key of a bad value, an unknown key or shares above 1', () => {
    const at = (raw: unknown) => configError(() => parseEmulatorConfig(raw, 'emu.yaml'));
    const bad = at({ models: { [TEXT]: { check_faults: { too_short: { rate: 1.5 } } } } });
    expect(bad.keyPath).toBe(`models.${TEXT}.check_faults.too_short.rate`);
    expect(bad.message).toContain('expected a share between 0 and 1');
    expect(at({ models: { [TEXT]: { check_faults: { blank_imag: { rate: 0.1 } } } } }).message).toContain('did you mean "blank_image"');
    expect(at({ models: { [TEXT]: { check_faults: { language: { rate: 0.1, language: 'xx' } } } } }).keyPath).toBe(
      `models.${TEXT}.check_faults.language.language`,
    );
    expect(at({ models: { [TEXT]: { check_faults: { too_short: { rate: 0.6 }, phrases: [{ rate: 0.5, text: 'x' }] } } } }).message).toMatch(
      /check_faults: the shares of too_short, phrases and language add up to more than 1/,
    );
    expect(at({ models: { [JUDGE]: { judge: { marker: '[weak]', low: 5, high: 2 } } } }).keyPath).toBe(`models.${JUDGE}.judge.low`);
    expect(at({ models: { [JUDGE]: { judge: { low: 1 } } } }).keyPath).toBe(`models.${JUDGE}.judge.marker`);
  });

  it('draws each fault at its share, and a regenerated ask (the next n) as a new independent draw', () => {
    const faults = parseEmulatorConfig({ models: { m: { check_faults: { too_short: { rate: 0.1 }, phrases: [{ rate: 0.1, text: 'x' }] } } } }).models.m
      ?.check_faults;
    let first = 0;
    let again = 0;
    for (let p = 0; p < 4000; p++) {
      if (!drawTextFault(faults, 42, 'm', `prompt ${p}`, 0)) continue;
      first++;
      if (drawTextFault(faults, 42, 'm', `prompt ${p}`, 1)) again++;
    }
    expect(first / 4000).toBeGreaterThan(0.18);
    expect(first / 4000).toBeLessThan(0.22);
    // A regenerate of a faulty draft is faulty again only at the faults' share (20%), not always.
    expect(again / first).toBeGreaterThan(0.15);
    expect(again / first).toBeLessThan(0.25);
    const images = parseEmulatorConfig({ models: { m: { check_faults: { blank_image: { rate: 0.1 } } } } }).models.m?.check_faults;
    let blank = 0;
    for (let p = 0; p < 2000; p++) if (drawImageFault(images, 42, 'm', `p${p}`, 0)?.kind === 'blank') blank++;
    expect(blank / 2000).toBeGreaterThan(0.08);
    expect(blank / 2000).toBeLessThan(0.12);
  });
});

describe('emulator check_faults through the SDK', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator({
      models: {
        [TEXT]: { output_tokens: { mean: 120, sd: 0 }, check_faults: { too_short: { rate: 0.5, words: 6 }, language: { rate: 0.5, language: 'fr' } } },
        'gemini-2.5-pro': { output_tokens: { mean: 120, sd: 0 }, check_faults: { phrases: [{ rate: 1, text: 'As an AI language model,' }] } },
        [JUDGE]: { judge: { marker: ['[weak]', 'lorem'], low: 2, high: 5 } },
        [IMAGE]: { check_faults: { blank_image: { rate: 0.5 }, wrong_size_image: { rate: 0.5 } } },
        [IMAGEN]: { check_faults: { blank_image: { rate: 1 } } },
      },
    });
  });
  afterAll(() => t.close());

  const text = async (model: string, prompt: string, config: Record<string, unknown> = {}) =>
    (await t.client().models.generateContent({ model, contents: prompt, config })).text ?? '';

  it('answers too short or in another language, and a regenerated ask of the same prompt draws again', async () => {
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => text(TEXT, `Describe product ${i % 6}`)));
    const short = replies.filter((r) => wordCount(r) <= 6);
    const french = replies.filter((r) => / (le|la|les|des|et|est|une?) /.test(r) && wordCount(r) > 20);
    expect(short.length + french.length).toBe(12);
    expect(short.length).toBeGreaterThan(0);
    expect(french.length).toBeGreaterThan(0);
    expect(new Set(replies).size).toBeGreaterThan(6);
  });

  it('starts a reply with the phrase, in plain text and in the longest string of a JSON reply', async () => {
    expect(await text('gemini-2.5-pro', 'Describe a lamp')).toMatch(/^As an AI language model, [a-z]/);
    const schema = { type: 'OBJECT', properties: { title: { type: 'STRING' }, description: { type: 'STRING' } }, required: ['title', 'description'] };
    const reply = JSON.parse(await text('gemini-2.5-pro', 'Describe a lamp', { responseMimeType: 'application/json', responseSchema: schema })) as {
      title: string;
      description: string;
    };
    expect(reply.description).toMatch(/^As an AI language model, /);
    expect(reply.title).not.toContain('As an AI');
  });

  it('scores a judged text low when it holds a marker term, high otherwise', async () => {
    const schema = { type: 'OBJECT', properties: { score: { type: 'INTEGER' }, reason: { type: 'STRING' } }, required: ['score', 'reason'] };
    const judge = async (content: string) =>
      JSON.parse(
        await text(JUDGE, `Rubric: accurate and specific.\n\nText:\n${content}`, { responseMimeType: 'application/json', responseSchema: schema }),
      ) as {
        score: number;
        reason: string;
      };
    expect(await judge('A sturdy oak table for six.')).toMatchObject({ score: 5 });
    const low = await judge('A sturdy oak table. Lorem ipsum.');
    expect(low.score).toBe(2);
    expect(low.reason).toMatch(/marker terms/);
    // Not the term itself, which feedback would carry into the next prompt.
    expect(low.reason.toLowerCase()).not.toContain('lorem');
  });

  it('returns blank or half-size images from a Gemini image model, and blank JPEGs from Imagen', async () => {
    const sizes: string[] = [];
    const deviations: number[] = [];
    for (let i = 0; i < 8; i++) {
      const response = await t.client().models.generateContent({ model: IMAGE, contents: `Product photo ${i}`, config: { responseModalities: ['IMAGE'] } });
      const png = Buffer.from(response.candidates?.[0]?.content?.parts?.[0]?.inlineData?.data ?? '', 'base64');
      const meta = await sharp(png).metadata();
      sizes.push(`${meta.width}x${meta.height}`);
      deviations.push(await stdev(png));
    }
    // Each image is one fault or the other: blank at full size, or a real picture at half size.
    sizes.forEach((size, i) => {
      if (size === '1024x1024') expect(deviations[i]).toBeLessThan(3);
      else expect([size, (deviations[i] ?? 0) > 10]).toEqual(['512x512', true]);
    });
    expect(new Set(sizes).size).toBe(2);
    const imagen = await t.client().models.generateImages({
      model: IMAGEN,
      prompt: 'A lamp',
      config: { numberOfImages: 2, outputMimeType: 'image/jpeg' },
    });
    for (const image of imagen.generatedImages ?? []) {
      const jpeg = Buffer.from(image.image?.imageBytes ?? '', 'base64');
      expect((await sharp(jpeg).metadata()).format).toBe('jpeg');
      expect(await stdev(jpeg)).toBeLessThan(3);
    }
  });
});
