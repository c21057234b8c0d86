import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { postOpSchema, type PostOp } from '../../src/job/schema.js';
import { formatFromFileName, layoutCaption, MAX_BAND_SHARE, MIN_CAPTION_FONT_PX, postProcessImage } from '../../src/outputs/image-post.js';
import { boundingBox, pixelsOf, regionDiff, texture, whole, type Pixels } from './images.js';

/** Ops as the job compiler sees them: parsed by the job schema, defaults filled in. */
function ops(...raw: unknown[]): PostOp[] {
  return raw.map((op) => postOpSchema.parse(op));
}

const noWatermark = (path: string): Promise<Buffer> => Promise.reject(new Error(`no watermark expected, asked for ${path}`));

async function post(input: Buffer, raw: unknown[], file = 'out.png', readWatermark = noWatermark): Promise<Buffer> {
  return postProcessImage(input, ops(...raw), file, readWatermark);
}

/** Text pixels: the caption is white on a band that darkens the picture to at most ~40 % brightness. */
const isText = (r: number, g: number, b: number): boolean => r > 200 && g > 200 && b > 200;

const BRIEF_SOURCE = texture(1376, 768).png().toBuffer(); // Gemini 16:9 size
const SQUARE_SOURCE = texture(1024, 1024, 7).png().toBuffer();

describe('resize', () => {
  it.each([
    ['cover', 1200, 630, [1200, 630]],
    ['contain', 1200, 630, [1200, 630]],
    ['fill', 1200, 630, [1200, 630]],
    ['inside', 1200, 630, [630, 630]],
    ['outside', 1200, 630, [1200, 1200]],
  ] as const)('fit %s to %ix%i gives exactly %j', async (fit, width, height, expected) => {
    const out = await post(await SQUARE_SOURCE, [{ resize: { width, height, fit } }]);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual(expected);
  });

  it('keeps the aspect ratio when only the width or the height is given', async () => {
    const source = await BRIEF_SOURCE;
    expect(await sharp(await post(source, [{ resize: { width: 688 } }])).metadata()).toMatchObject({ width: 688, height: 384 });
    expect(await sharp(await post(source, [{ resize: { height: 192 } }])).metadata()).toMatchObject({ width: 344, height: 192 });
  });

  it('crops where `position` says', async () => {
    // Top half red, bottom half blue; a cover crop to a wide strip keeps the half named by position.
    const half = Buffer.alloc(400 * 400 * 3);
    for (let i = 0; i < 400 * 400; i++) half.set(i < 400 * 200 ? [220, 20, 20] : [20, 20, 220], i * 3);
    const source = await sharp(half, { raw: { width: 400, height: 400, channels: 3 } })
      .png()
      .toBuffer();
    const crop = async (position: string): Promise<number[]> => {
      const p = await pixelsOf(await post(source, [{ resize: { width: 400, height: 100, fit: 'cover', position } }]));
      return [...p.data.subarray(((p.height >> 1) * p.width + 200) * p.channels, ((p.height >> 1) * p.width + 200) * p.channels + 3)];
    };
    expect(await crop('top')).toEqual([220, 20, 20]);
    expect(await crop('bottom')).toEqual([20, 20, 220]);
  });

  it('applies operations in order: a resize after an overlay scales the band with the image', async () => {
    const source = await BRIEF_SOURCE;
    const out = await post(source, [{ overlay_text: { text: 'Order matters' } }, { resize: { width: 344, height: 192 } }]);
    expect(await sharp(out).metadata()).toMatchObject({ width: 344, height: 192 });
  });
});

describe('format', () => {
  it.each([
    ['png', 'png'],
    ['jpeg', 'jpeg'],
    ['webp', 'webp'],
    ['avif', 'heif'], // sharp reports AVIF as the HEIF container with AV1 compression
  ] as const)('format %s from a `format` op', async (type, reported) => {
    const out = await post(await BRIEF_SOURCE, [{ resize: { width: 320, height: 180 } }, { format: { type } }], 'ignored.png');
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual([reported, 320, 180]);
    if (type === 'avif') expect(meta.compression).toBe('av1');
  });

  it.each([
    ['hero.png', 'png'],
    ['hero.JPG', 'jpeg'],
    ['hero.jpeg', 'jpeg'],
    ['hero.webp', 'webp'],
    ['hero.avif', 'heif'],
  ] as const)('format from the file name %s', async (file, reported) => {
    const out = await post(await texture(160, 90).png().toBuffer(), [], file);
    expect((await sharp(out).metadata()).format).toBe(reported);
  });

  it('knows formats by extension, and nothing else', () => {
    expect(['a.png', 'a.JPEG', 'a.jpg', 'a.webp', 'a.avif', 'a.gif', 'a'].map(formatFromFileName)).toEqual([
      'png',
      'jpeg',
      'jpeg',
      'webp',
      'avif',
      undefined,
      undefined,
    ]);
  });

  it.each(['jpeg', 'webp', 'avif'] as const)('%s quality changes the size and the fidelity', async (type) => {
    const source = await texture(480, 270).png().toBuffer();
    const original = await pixelsOf(source);
    const low = await post(source, [{ format: { type, quality: 20 } }]);
    const high = await post(source, [{ format: { type, quality: 95 } }]);
    expect(low.length).toBeLessThan(high.length);
    const errLow = regionDiff(await pixelsOf(low), original, whole(original)).mean;
    const errHigh = regionDiff(await pixelsOf(high), original, whole(original)).mean;
    expect(errHigh).toBeLessThan(errLow);
  });
});

describe('overlay_text', () => {
  const size = { width: 1200, height: 630 };
  const bottomBand = { left: 0, top: 630 - 60, width: 1200, height: 60 };
  const topBand = { left: 0, top: 0, width: 1200, height: 60 };
  const upper = { left: 0, top: 0, width: 1200, height: 315 };
  const lower = { left: 0, top: 315, width: 1200, height: 315 };

  async function withAndWithout(overlay: Record<string, unknown>, extra: unknown[] = []): Promise<{ plain: Pixels; captioned: Pixels }> {
    const source = await BRIEF_SOURCE;
    const resize = { resize: size };
    const plain = await pixelsOf(await post(source, [resize, ...extra]));
    const captioned = await pixelsOf(await post(source, [resize, { overlay_text: overlay }, ...extra]));
    return { plain, captioned };
  }

  it('draws a band with the text at the bottom, and leaves the top untouched', async () => {
    const { plain, captioned } = await withAndWithout({ text: 'PostgreSQL vs MySQL vs SQLite', position: 'bottom' });
    expect([captioned.width, captioned.height]).toEqual([1200, 630]);
    expect(regionDiff(captioned, plain, bottomBand).mean).toBeGreaterThan(40);
    expect(regionDiff(captioned, plain, upper)).toEqual({ mean: 0, max: 0 });
    // The text itself: bright pixels where the band darkened everything else.
    const text = boundingBox(captioned, lower, isText);
    expect(text?.count).toBeGreaterThan(2000);
    expect(boundingBox(plain, lower, isText)).toBeUndefined();
  });

  it('draws at the top when asked, and leaves the bottom untouched', async () => {
    const { plain, captioned } = await withAndWithout({ text: 'PostgreSQL vs MySQL vs SQLite', position: 'top' });
    expect(regionDiff(captioned, plain, topBand).mean).toBeGreaterThan(40);
    expect(regionDiff(captioned, plain, lower)).toEqual({ mean: 0, max: 0 });
    expect(boundingBox(captioned, upper, isText)?.count).toBeGreaterThan(2000);
  });

  it('draws the text, not only the band: two titles give different pixels in the band', async () => {
    const a = (await withAndWithout({ text: 'Kubernetes in production' })).captioned;
    const b = (await withAndWithout({ text: 'Terraform on a budget' })).captioned;
    expect(regionDiff(a, b, lower).mean).toBeGreaterThan(2);
    expect(boundingBox(a, lower, isText)?.count).toBeGreaterThan(1000);
    expect(regionDiff(a, b, upper).max).toBe(0);
  });

  it('honours band colour, opacity and text colour', async () => {
    const opaque = (await withAndWithout({ text: 'Hi', band_color: '#204080', band_opacity: 1, color: '#ffff00' })).captioned;
    // Far from the text (right end of the band), the band is the solid colour.
    const at = (p: Pixels, x: number, y: number): number[] => [...p.data.subarray((y * p.width + x) * p.channels, (y * p.width + x) * p.channels + 3)];
    expect(at(opaque, 1190, 625)).toEqual([0x20, 0x40, 0x80]);
    const yellow = boundingBox(opaque, whole(opaque), (r, g, b) => r > 230 && g > 230 && b < 40);
    expect(yellow?.count).toBeGreaterThan(100);
    const clear = await withAndWithout({ text: 'Hi', band_opacity: 0 });
    // A transparent band: only the glyphs change pixels, so most of the band area is identical.
    const band = bottomBand;
    const changed = boundingBox(clear.captioned, band, (r, g, b) => r > 250 && g > 250 && b > 250);
    expect(changed?.maxX).toBeLessThan(300);
    expect(regionDiff(clear.captioned, clear.plain, { left: 600, top: band.top, width: 600, height: band.height }).max).toBe(0);
  });

  it('fits a very long title to the width: it wraps, the font shrinks, nothing is cut at the edge', async () => {
    const short = 'Redis on a budget';
    const long =
      'PostgreSQL vs MySQL vs SQLite | Which Database Should You Choose? A Very Long Comparison of the Three Most Popular ' +
      'Relational Databases in 2025, With Benchmarks, Migration Stories, WWWWWWWWWWWWWWWWWWWW and a Decision Matrix for Small Teams';
    const options = { maxFontSize: 64, color: '#ffffff', bandColor: '#000000', bandOpacity: 0.6 };
    const shortLayout = await layoutCaption(1200, 630, short, options);
    const longLayout = await layoutCaption(1200, 630, long, options);
    expect(shortLayout.fontPx).toBe(64);
    expect(longLayout.fontPx).toBeLessThan(64);
    expect(longLayout.fontPx).toBeGreaterThanOrEqual(MIN_CAPTION_FONT_PX);
    // Wrapped onto several lines: the text block is several line heights tall, and within the width.
    expect(longLayout.text.info.height).toBeGreaterThan(longLayout.fontPx * 2.5);
    expect(longLayout.text.info.width).toBeLessThanOrEqual(1200 - 2 * longLayout.padding);
    expect(longLayout.bandHeight).toBeLessThanOrEqual(630 * MAX_BAND_SHARE);
    expect(longLayout.truncated).toBe(false);

    // In the image: the glyphs stay inside the padding on both sides, and inside the band.
    const { captioned } = await withAndWithout({ text: long });
    const box = boundingBox(captioned, whole(captioned), isText);
    expect(box).toBeDefined();
    expect(box?.minX).toBeGreaterThanOrEqual(longLayout.padding - 2);
    expect(box?.maxX).toBeLessThanOrEqual(1200 - longLayout.padding + 2);
    expect(box?.minY).toBeGreaterThanOrEqual(630 - longLayout.bandHeight);
    expect((box?.maxY ?? 0) - (box?.minY ?? 0)).toBeGreaterThan(longLayout.fontPx * 2);
  });

  it('breaks a single word longer than the line (a URL) instead of running off the image', async () => {
    const url = `https://example.com/${'a-very-long-path-segment/'.repeat(8)}index.html`;
    const layout = await layoutCaption(640, 360, url, { maxFontSize: 48, color: '#ffffff', bandColor: '#000000', bandOpacity: 0.6 });
    expect(layout.text.info.width).toBeLessThanOrEqual(640 - 2 * layout.padding);
  });

  it('shortens with an ellipsis what cannot fit even at the smallest size, and never fails', async () => {
    const endless = 'An endless title that keeps going '.repeat(200);
    const layout = await layoutCaption(320, 180, endless, { maxFontSize: 64, color: '#ffffff', bandColor: '#000000', bandOpacity: 0.6 });
    expect(layout.truncated).toBe(true);
    expect(layout.fontPx).toBe(MIN_CAPTION_FONT_PX);
    expect(layout.bandHeight).toBeLessThanOrEqual(180 * MAX_BAND_SHARE);
    const out = await post(await texture(320, 180).png().toBuffer(), [{ overlay_text: { text: endless } }]);
    expect(await sharp(out).metadata()).toMatchObject({ width: 320, height: 180 });
  });

  it('never fails on an image too small for one line of text', async () => {
    for (const [w, h] of [
      [40, 20],
      [16, 16],
      [300, 24],
      [24, 300],
    ] as const) {
      const out = await post(await texture(w, h).png().toBuffer(), [{ overlay_text: { text: 'A caption that cannot possibly fit here' } }]);
      expect(await sharp(out).metadata(), `${w}x${h}`).toMatchObject({ width: w, height: h });
    }
  });

  it('draws nothing for an empty text (an empty field), rather than an empty band', async () => {
    const { plain, captioned } = await withAndWithout({ text: '   ' });
    expect(regionDiff(captioned, plain, whole(plain)).max).toBe(0);
  });

  it('renders markup characters and non-Latin text literally', async () => {
    const { plain, captioned } = await withAndWithout({ text: '<b>Tom & Jerry</b> — “quotes” • Ünïcødé 日本語' });
    expect(regionDiff(captioned, plain, bottomBand).mean).toBeGreaterThan(40);
  });
});

describe('watermark', () => {
  // A white logo with a transparent hole, 200×100.
  const LOGO = (async () => {
    const data = Buffer.alloc(200 * 100 * 4, 255);
    for (let y = 30; y < 70; y++) for (let x = 80; x < 120; x++) data[(y * 200 + x) * 4 + 3] = 0;
    return sharp(data, { raw: { width: 200, height: 100, channels: 4 } })
      .png()
      .toBuffer();
  })();
  const corners = (p: Pixels, share = 0.2) => {
    const w = Math.round(p.width * share);
    const h = Math.round(p.height * share);
    return {
      'top-left': { left: 0, top: 0, width: w, height: h },
      'top-right': { left: p.width - w, top: 0, width: w, height: h },
      'bottom-left': { left: 0, top: p.height - h, width: w, height: h },
      'bottom-right': { left: p.width - w, top: p.height - h, width: w, height: h },
      center: { left: Math.round((p.width - w) / 2), top: Math.round((p.height - h) / 2), width: w, height: h },
    };
  };

  async function marked(position: string, opacity: number, logo: Promise<Buffer> = LOGO): Promise<{ plain: Pixels; out: Pixels }> {
    const source = await texture(800, 450).png().toBuffer();
    const seen: string[] = [];
    const read = async (path: string): Promise<Buffer> => {
      seen.push(path);
      return logo;
    };
    const out = await pixelsOf(await post(source, [{ watermark: { image: 'brand/logo.png', position, opacity } }], 'out.png', read));
    expect(seen).toEqual(['brand/logo.png']);
    return { plain: await pixelsOf(source), out };
  }

  it.each(['top-left', 'top-right', 'bottom-left', 'bottom-right', 'center'] as const)('at %s changes that region only', async (position) => {
    const { plain, out } = await marked(position, 1);
    const regions = corners(out);
    for (const [name, rect] of Object.entries(regions)) {
      const diff = regionDiff(out, plain, rect);
      if (name === position) expect(diff.mean, name).toBeGreaterThan(10);
      else expect(diff.max, name).toBe(0);
    }
  });

  it('opacity scales the effect: 0 changes nothing, 0.5 about half of 1', async () => {
    const rect = corners((await marked('bottom-right', 1)).out, 0.15)['bottom-right'];
    const full = await marked('bottom-right', 1);
    const half = await marked('bottom-right', 0.5);
    const none = await marked('bottom-right', 0);
    const dFull = regionDiff(full.out, full.plain, rect).mean;
    const dHalf = regionDiff(half.out, half.plain, rect).mean;
    expect(regionDiff(none.out, none.plain, whole(none.out)).max).toBe(0);
    expect(dFull).toBeGreaterThan(20);
    expect(dHalf / dFull).toBeGreaterThan(0.4);
    expect(dHalf / dFull).toBeLessThan(0.6);
  });

  it('respects the logo’s own transparency (the hole shows the picture)', async () => {
    const { plain, out } = await marked('bottom-right', 1);
    // Default scale 0.15 of 800 → 120×60 logo, 16 px margin; its hole is the middle 20 % × 40 %.
    const hole = { left: 800 - 16 - 60 - 2, top: 450 - 16 - 30 - 2, width: 4, height: 4 };
    expect(regionDiff(out, plain, hole).max).toBe(0);
  });

  it('accepts a logo without an alpha channel (JPEG) and still applies the opacity', async () => {
    const jpegLogo = sharp({ create: { width: 200, height: 100, channels: 3, background: '#ffffff' } })
      .jpeg()
      .toBuffer();
    const full = await marked('top-left', 1, jpegLogo);
    const faint = await marked('top-left', 0.25, jpegLogo);
    const rect = { left: 20, top: 20, width: 40, height: 20 };
    const dFull = regionDiff(full.out, full.plain, rect).mean;
    const dFaint = regionDiff(faint.out, faint.plain, rect).mean;
    expect(dFull).toBeGreaterThan(20);
    expect(dFaint / dFull).toBeGreaterThan(0.15);
    expect(dFaint / dFull).toBeLessThan(0.35);
  });

  it('keeps a large logo inside a small image', async () => {
    const source = await texture(120, 40).png().toBuffer();
    const big = sharp({ create: { width: 100, height: 400, channels: 4, background: '#ffffffff' } })
      .png()
      .toBuffer();
    const out = await post(source, [{ watermark: { image: 'tall.png', scale: 1, position: 'center' } }], 'out.png', () => big);
    expect(await sharp(out).metadata()).toMatchObject({ width: 120, height: 40 });
  });
});

describe('metadata', () => {
  const EXIF = { IFD0: { Copyright: 'genbatch-test-copyright', ImageDescription: 'made by a model' } };
  const XMP =
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>';
  const SOURCE = texture(640, 360).withExif(EXIF).withXmp(XMP).jpeg().toBuffer();
  const hasCopyright = (exif: Buffer | undefined): boolean => exif?.includes('genbatch-test-copyright') ?? false;

  it.each(['out.jpg', 'out.png', 'out.webp', 'out.avif'])('keeps EXIF and XMP by default (%s), with and without pixel operations', async (file) => {
    const source = await SOURCE;
    expect(hasCopyright((await sharp(source).metadata()).exif)).toBe(true);
    for (const raw of [[], [{ resize: { width: 320, height: 180 } }, { overlay_text: { text: 'Kept' } }]]) {
      const meta = await sharp(await post(source, raw, file)).metadata();
      expect(hasCopyright(meta.exif), `${file} ${raw.length} ops`).toBe(true);
      expect(meta.xmp?.toString('utf8') ?? '', `${file} ${raw.length} ops`).toContain('trainedAlgorithmicMedia');
    }
  });

  it.each(['out.jpg', 'out.png', 'out.webp', 'out.avif'])('strip_metadata removes EXIF and XMP (%s)', async (file) => {
    for (const raw of [[{ strip_metadata: true }], [{ resize: { width: 320, height: 180 } }, { strip_metadata: true }]]) {
      const meta = await sharp(await post(await SOURCE, raw, file)).metadata();
      expect(meta.exif, file).toBeUndefined();
      expect(meta.xmp, file).toBeUndefined();
    }
  });

  it('keeps the pixels identical whether metadata is kept or stripped', async () => {
    const raw = [{ resize: { width: 320, height: 180 } }, { overlay_text: { text: 'Same pixels' } }];
    const kept = await pixelsOf(await post(await SOURCE, raw));
    const stripped = await pixelsOf(await post(await SOURCE, [...raw, { strip_metadata: true }]));
    expect(regionDiff(kept, stripped, whole(kept)).max).toBe(0);
  });

  it('turns an EXIF-rotated photo upright, so sizes and bands are where a viewer sees them', async () => {
    // Stored 400×200 with orientation 6 (rotate 90° clockwise): a viewer shows it 200×400.
    const rotated = await texture(400, 200).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    for (const raw of [[], [{ strip_metadata: true }], [{ overlay_text: { text: 'Upright' } }]]) {
      const meta = await sharp(await post(rotated, raw, 'out.jpg')).metadata();
      expect([meta.width, meta.height]).toEqual([200, 400]);
      expect(meta.orientation ?? 1).toBe(1);
    }
  });
});

describe('unusual sources', () => {
  it('handles 16-bit, greyscale, CMYK and transparent sources', async () => {
    const sources = {
      rgb16: await texture(160, 90).toColourspace('rgb16').png().toBuffer(),
      grey: await texture(160, 90).toColourspace('b-w').png().toBuffer(),
      cmyk: await texture(160, 90).toColourspace('cmyk').jpeg().toBuffer(),
      rgba: await texture(160, 90).ensureAlpha(0.5).png().toBuffer(),
    };
    for (const [name, source] of Object.entries(sources)) {
      const out = await post(source, [{ resize: { width: 80, height: 45 } }, { overlay_text: { text: 'Caption' } }]);
      const meta = await sharp(out).metadata();
      expect([meta.width, meta.height, meta.depth, meta.space], name).toEqual([80, 45, 'uchar', 'srgb']);
      // Only a source with transparency keeps an alpha channel.
      expect(meta.hasAlpha, name).toBe(name === 'rgba');
      // Sanity of the pixels: the top row resembles the source's (no channel mix-up).
      const expected = await pixelsOf(await sharp(source).resize(80, 45).toColourspace('srgb').removeAlpha().png().toBuffer());
      const got = await pixelsOf(await sharp(out).removeAlpha().png().toBuffer());
      expect(regionDiff(got, expected, { left: 0, top: 0, width: 80, height: 10 }).mean, name).toBeLessThan(12);
    }
  });
});
