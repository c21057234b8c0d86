import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { renderBlankImage } from '../../src/emulator/fake-check-faults.js';
import { renderImage } from '../../src/emulator/fake-image.js';
import { seededRandom } from '../../src/emulator/seeded-random.js';
import { checkImage } from '../../src/quality/image-checks.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/** A flat colour, optionally with a vertical gradient of ±`shade` levels (raw pixels, then encoded). */
async function flat(width: number, height: number, shade = 0, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const level = 200 + Math.round(-shade + (2 * shade * y) / Math.max(1, height - 1));
    pixels.fill(level, y * width * 3, (y + 1) * width * 3);
  }
  const image = sharp(pixels, { raw: { width, height, channels: 3 } });
  return format === 'jpeg' ? image.jpeg({ quality: 75 }).toBuffer() : image.png().toBuffer();
}

/** A white product shot: one dark square covering `share` of the frame. */
async function whiteShot(width: number, height: number, share: number): Promise<Buffer> {
  const side = Math.round(Math.sqrt(share * width * height));
  const square = await sharp({ create: { width: side, height: side, channels: 3, background: { r: 30, g: 40, b: 50 } } })
    .png()
    .toBuffer();
  return sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([{ input: square, left: Math.floor((width - side) / 2), top: Math.floor((height - side) / 2) }])
    .png()
    .toBuffer();
}

describe('image checks (sharp)', () => {
  it('not_blank fails a flat or near-flat image, PNG or JPEG, and passes pictures, sparse white shots and alpha-only logos', async () => {
    const blank = async (image: Buffer) => (await checkImage(image, { not_blank: true }))[0];
    expect(await blank(await flat(256, 256))).toMatchObject({ check: 'not_blank', passed: false, reason: expect.stringMatching(/^blank: one flat colour/) });
    expect((await blank(await flat(256, 256, 5, 'jpeg')))?.passed).toBe(false);
    expect((await blank(await flat(256, 256, 3)))?.passed).toBe(false);
    expect(await blank(await renderImage(seededRandom(1, 'photo'), 320, 240))).toEqual({ check: 'not_blank', passed: true });
    expect((await blank(await whiteShot(512, 512, 0.002)))?.passed).toBe(true);
    // One colour everywhere, the shape drawn by transparency alone.
    const logo = await sharp({ create: { width: 200, height: 200, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .composite([
        {
          input: await sharp({ create: { width: 100, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 1 } } })
            .png()
            .toBuffer(),
          left: 50,
          top: 50,
        },
      ])
      .png()
      .toBuffer();
    expect((await blank(logo))?.passed).toBe(true);
  });

  it("catches every blank image the emulator's blank_image fault paints, PNG or JPEG, whatever its colour", async () => {
    for (let i = 0; i < 12; i++) {
      const image = await renderBlankImage(seededRandom(i, 'blank'), 96, 64, i % 2 === 0 ? 'png' : 'jpeg');
      expect((await checkImage(image, { not_blank: true }))[0]?.passed).toBe(false);
    }
  });

  it('size is exact or a minimum, read from the file, and aspect allows its tolerance', async () => {
    const file = join(tempDir(), 'shot.png');
    await writeFile(file, await renderImage(seededRandom(2, 'photo'), 1344, 768));
    expect(await checkImage(file, { size: { width: 1344, height: 768, minimum: false } })).toEqual([{ check: 'size', passed: true }]);
    expect(await checkImage(file, { size: { width: 1024, height: 1024, minimum: false } })).toEqual([
      { check: 'size', passed: false, reason: '1344x768 pixels, expected 1024x1024' },
    ]);
    expect(await checkImage(file, { size: { width: 1024, minimum: true } })).toEqual([{ check: 'size', passed: true }]);
    expect(await checkImage(file, { size: { height: 1024, minimum: true } })).toEqual([
      { check: 'size', passed: false, reason: '1344x768 pixels, at least 1024 pixels high' },
    ]);
    // 1344x768 is 1.75:1, 16:9 is 1.778:1: 1.6% off.
    expect(await checkImage(file, { aspect: { width: 16, height: 9, tolerance: 0.02 } })).toEqual([{ check: 'aspect', passed: true }]);
    expect(await checkImage(file, { aspect: { width: 16, height: 9, tolerance: 0.01 } })).toEqual([
      { check: 'aspect', passed: false, reason: '1344x768 is 1.750:1, expected 16:9 (1.778:1) within 1%' },
    ]);
  });

  it('reads the size as shown (EXIF orientation), and fails every check of a file that is not an image', async () => {
    const turned = await sharp(await renderImage(seededRandom(3, 'photo'), 300, 200))
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect(await checkImage(turned, { size: { width: 200, height: 300, minimum: false } })).toEqual([{ check: 'size', passed: true }]);
    const broken = (await renderImage(seededRandom(4, 'photo'), 64, 64)).subarray(0, 20);
    const verdicts = await checkImage(broken, { size: { width: 64, height: 64, minimum: false }, not_blank: true });
    expect(verdicts.map((v) => [v.check, v.passed])).toEqual([
      ['size', false],
      ['not_blank', false],
    ]);
    expect(verdicts[0]?.reason).toMatch(/^not a readable image/);
  });
});
