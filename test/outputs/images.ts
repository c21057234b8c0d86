import sharp, { type Sharp } from 'sharp';

/** Test images and pixel measurements for the image post-processing tests (all decoded by sharp). */

/** A deterministic, textured RGB picture (gradients plus noise), so every region has detail. */
export function texture(width: number, height: number, seed = 1): Sharp {
  const data = Buffer.alloc(width * height * 3);
  let state = seed >>> 0 || 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const i = (y * width + x) * 3;
      data[i] = Math.round((x / width) * 200) + (state & 0x1f);
      data[i + 1] = Math.round((y / height) * 200) + ((state >>> 8) & 0x1f);
      data[i + 2] = 90 + ((state >>> 16) & 0x3f);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

export interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

export async function pixelsOf(image: Buffer): Promise<Pixels> {
  const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Mean and max absolute difference per colour channel over a region of two same-size images. */
export function regionDiff(a: Pixels, b: Pixels, rect: Rect): { mean: number; max: number } {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  let sum = 0;
  let max = 0;
  let n = 0;
  for (let y = rect.top; y < rect.top + rect.height; y++) {
    for (let x = rect.left; x < rect.left + rect.width; x++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs((a.data[(y * a.width + x) * a.channels + c] ?? 0) - (b.data[(y * b.width + x) * b.channels + c] ?? 0));
        sum += d;
        max = Math.max(max, d);
        n += 1;
      }
    }
  }
  return { mean: n === 0 ? 0 : sum / n, max };
}

/** Bounding box of pixels that match a predicate on [r, g, b], or undefined when none does. */
export function boundingBox(
  p: Pixels,
  rect: Rect,
  match: (r: number, g: number, b: number) => boolean,
): { minX: number; maxX: number; minY: number; maxY: number; count: number } | undefined {
  let minX = Infinity;
  let maxX = -1;
  let minY = Infinity;
  let maxY = -1;
  let count = 0;
  for (let y = rect.top; y < rect.top + rect.height; y++) {
    for (let x = rect.left; x < rect.left + rect.width; x++) {
      const i = (y * p.width + x) * p.channels;
      if (match(p.data[i] ?? 0, p.data[i + 1] ?? 0, p.data[i + 2] ?? 0)) {
        minX = Math.min(minX, x);
        maxX = Math.max(maxX, x);
        minY = Math.min(minY, y);
        maxY = Math.max(maxY, y);
        count += 1;
      }
    }
  }
  return count === 0 ? undefined : { minX, maxX, minY, maxY, count };
}

export const whole = (p: Pixels): Rect => ({ left: 0, top: 0, width: p.width, height: p.height });
