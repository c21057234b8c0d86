import sharp from 'sharp';
import type { Rng } from './seeded-random.js';

/**
 * Real, decodable pictures for emulated image models: a banded sky, a horizon, a sun and a few
 * blocks, with colours and positions drawn from the prompt's hash, so different prompts give
 * visibly different images and the same prompt the same bytes. Pixels are written straight into
 * a buffer (flat fills, row copies) and PNG is encoded at low compression: a few ms per image.
 */
export type ImageFormat = 'png' | 'jpeg';

type Rgb = [number, number, number];

function colour(rng: Rng): Rgb {
  return [rng.int(20, 235), rng.int(20, 235), rng.int(20, 235)];
}

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [Math.round(a[0] + (b[0] - a[0]) * t), Math.round(a[1] + (b[1] - a[1]) * t), Math.round(a[2] + (b[2] - a[2]) * t)];
}

class Canvas {
  readonly pixels: Buffer;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = Buffer.alloc(width * height * 3);
  }

  /** Fills a horizontal run [x0, x1) of row y. */
  span(y: number, x0: number, x1: number, c: Rgb): void {
    if (y < 0 || y >= this.height) return;
    const from = Math.max(0, Math.floor(x0));
    const to = Math.min(this.width, Math.ceil(x1));
    if (to <= from) return;
    const row = y * this.width * 3;
    const i = row + from * 3;
    this.pixels[i] = c[0];
    this.pixels[i + 1] = c[1];
    this.pixels[i + 2] = c[2];
    // Doubling copies: far faster than writing every pixel from JavaScript.
    let filled = 3;
    const length = (to - from) * 3;
    while (filled < length) {
      const n = Math.min(filled, length - filled);
      this.pixels.copy(this.pixels, i + filled, i, i + n);
      filled += n;
    }
  }

  rect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let row = Math.max(0, Math.floor(y)); row < Math.min(this.height, Math.ceil(y + h)); row++) this.span(row, x, x + w, c);
  }

  circle(cx: number, cy: number, r: number, c: Rgb): void {
    for (let row = Math.max(0, Math.floor(cy - r)); row < Math.min(this.height, Math.ceil(cy + r)); row++) {
      const dy = row + 0.5 - cy;
      const dx = Math.sqrt(Math.max(0, r * r - dy * dy));
      this.span(row, cx - dx, cx + dx, c);
    }
  }

  /** A mountain: a triangle with its base on row `baseY`. */
  peak(cx: number, baseY: number, halfWidth: number, height: number, c: Rgb): void {
    for (let row = Math.max(0, Math.floor(baseY - height)); row < Math.min(this.height, Math.ceil(baseY)); row++) {
      const t = (baseY - row) / height;
      const half = halfWidth * (1 - t);
      this.span(row, cx - half, cx + half, c);
    }
  }
}

function paint(rng: Rng, width: number, height: number): Canvas {
  const canvas = new Canvas(width, height);
  const top = colour(rng);
  const bottom = colour(rng);
  const ground = colour(rng);
  const horizon = Math.round(height * (0.55 + rng.next() * 0.25));
  const bands = 24;
  for (let band = 0; band < bands; band++) {
    const y0 = Math.floor((band * horizon) / bands);
    const y1 = Math.floor(((band + 1) * horizon) / bands);
    canvas.rect(0, y0, width, y1 - y0, mix(top, bottom, band / (bands - 1)));
  }
  canvas.circle(width * (0.15 + rng.next() * 0.7), horizon * (0.2 + rng.next() * 0.5), Math.min(width, height) * (0.06 + rng.next() * 0.1), colour(rng));
  for (let i = rng.int(1, 3); i > 0; i--) {
    canvas.peak(rng.next() * width, horizon, width * (0.12 + rng.next() * 0.25), horizon * (0.15 + rng.next() * 0.45), colour(rng));
  }
  canvas.rect(0, horizon, width, height - horizon, ground);
  for (let i = rng.int(2, 6); i > 0; i--) {
    const w = width * (0.04 + rng.next() * 0.12);
    const h = (height - horizon) * (0.2 + rng.next() * 0.7) + height * 0.05;
    canvas.rect(rng.next() * (width - w), horizon + (height - horizon) * 0.6 - h, w, h, mix(colour(rng), ground, 0.3));
  }
  return canvas;
}

/** Encodes a deterministic picture for `rng`'s seed at the given size. */
export async function renderImage(rng: Rng, width: number, height: number, format: ImageFormat = 'png'): Promise<Buffer> {
  const canvas = paint(rng, width, height);
  const image = sharp(canvas.pixels, { raw: { width, height, channels: 3 } });
  return format === 'jpeg' ? image.jpeg({ quality: 80 }).toBuffer() : image.png({ compressionLevel: 1, adaptiveFiltering: false }).toBuffer();
}

/**
 * The base64 of an image as a broken reply carries it (`bad_image_rate`): cut off halfway, so the
 * bytes it decodes to start as the image and end early (a header that reads, pixels that do not).
 */
export function brokenImageData(bytes: Buffer): string {
  const data = bytes.toString('base64');
  return data.slice(0, Math.floor(data.length / 2));
}

/** Gemini image models: output size per aspect ratio (1K tier). */
export const GEMINI_IMAGE_SIZES: Record<string, [number, number]> = {
  '1:1': [1024, 1024],
  '16:9': [1344, 768],
  '9:16': [768, 1344],
  '4:3': [1184, 864],
  '3:4': [864, 1184],
  '3:2': [1248, 832],
  '2:3': [832, 1248],
  '5:4': [1152, 896],
  '4:5': [896, 1152],
  '21:9': [1536, 672],
};

/** Imagen models: output size per aspect ratio (1K tier). */
export const IMAGEN_SIZES: Record<string, [number, number]> = {
  '1:1': [1024, 1024],
  '16:9': [1408, 768],
  '9:16': [768, 1408],
  '4:3': [1280, 896],
  '3:4': [896, 1280],
};
