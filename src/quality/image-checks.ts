import type { Metadata, Stats } from 'sharp';
import type { CheckVerdict } from './check-verdict.js';

/**
 * The image checks of a step (issue 28): `size` (exact or minimum), `not_blank` and `aspect`, read
 * from the image itself with sharp, never from what the model said it made.
 */
export interface ImageChecks {
  size?: { width?: number; height?: number; minimum: boolean };
  not_blank?: boolean;
  /** Wanted width:height, and how far the image's ratio may be off, as a share of it (0.02 = 2%). */
  aspect?: { width: number; height: number; tolerance: number };
}

/**
 * An image whose every colour channel has a standard deviation below this (in levels of 0-255) is
 * blank. A flat fill stays below 1 even after JPEG compression, and a flat fill with a faint gradient
 * or vignette (±5 levels, what image models return when they return nothing) stays near 3; a real
 * picture is far above: photos 40-70, and even a plain white product shot whose object covers 0.1%
 * of the frame about 6 (a share p of pixels differing by d levels gives d·√(p(1−p))).
 */
export const BLANK_STDEV = 4;

/** Width and height as shown: EXIF orientations 5-8 turn the stored image by 90°. */
function shownSize(meta: Metadata): [number, number] {
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  return (meta.orientation ?? 1) >= 5 ? [height, width] : [width, height];
}

function sizeVerdict(spec: NonNullable<ImageChecks['size']>, width: number, height: number): CheckVerdict {
  const off = (want: number | undefined, got: number): boolean => want !== undefined && (spec.minimum ? got < want : got !== want);
  if (!off(spec.width, width) && !off(spec.height, height)) return { check: 'size', passed: true };
  const wanted =
    spec.width !== undefined && spec.height !== undefined
      ? `${spec.width}x${spec.height}`
      : spec.width !== undefined
        ? `${spec.width} pixels wide`
        : `${spec.height} pixels high`;
  return { check: 'size', passed: false, reason: `${width}x${height} pixels, ${spec.minimum ? 'at least' : 'expected'} ${wanted}` };
}

function ratio(width: number, height: number): string {
  return height > 0 ? (width / height).toFixed(3) : 'none';
}

function aspectVerdict(spec: NonNullable<ImageChecks['aspect']>, width: number, height: number): CheckVerdict {
  const want = spec.width / spec.height;
  const got = height > 0 ? width / height : 0;
  if (Math.abs(got / want - 1) <= spec.tolerance) return { check: 'aspect', passed: true };
  return {
    check: 'aspect',
    passed: false,
    reason: `${width}x${height} is ${ratio(width, height)}:1, expected ${spec.width}:${spec.height} (${ratio(spec.width, spec.height)}:1) within ${+(spec.tolerance * 100).toFixed(2)}%`,
  };
}

/** The image's checks, in the order size, not_blank, aspect; an unreadable file fails each of them. */
export async function checkImage(image: string | Buffer, spec: ImageChecks): Promise<CheckVerdict[]> {
  const wanted = [spec.size && 'size', spec.not_blank && 'not_blank', spec.aspect && 'aspect'].filter((c): c is string => typeof c === 'string');
  if (wanted.length === 0) return [];
  let meta: Metadata;
  let stats: Stats | undefined;
  try {
    // sharp (libvips, some 30 MB) loads with the first image checked, not with every run: a static
    // import put it in every command's start, text jobs included (as src/outputs/load-sharp.ts avoids).
    const { default: sharp } = await import('sharp');
    meta = await sharp(image).metadata();
    if (spec.not_blank) stats = await sharp(image).stats();
  } catch (error) {
    const reason = `not a readable image: ${(error as Error).message}`;
    return wanted.map((check) => ({ check, passed: false, reason }));
  }
  const [width, height] = shownSize(meta);
  const verdicts: CheckVerdict[] = [];
  if (spec.size) verdicts.push(sizeVerdict(spec.size, width, height));
  if (spec.not_blank && stats) {
    // Alpha counts too: a logo drawn only by its transparency on one flat colour is not blank.
    const spread = Math.max(...stats.channels.map((c) => c.stdev));
    verdicts.push(
      spread < BLANK_STDEV
        ? { check: 'not_blank', passed: false, reason: `blank: one flat colour (standard deviation ${spread.toFixed(1)}, below ${BLANK_STDEV})` }
        : { check: 'not_blank', passed: true },
    );
  }
  if (spec.aspect) verdicts.push(aspectVerdict(spec.aspect, width, height));
  return verdicts;
}
