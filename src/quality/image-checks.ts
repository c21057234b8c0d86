import type { CheckVerdict } from './check-verdict.js';

/*
 * MINIMAL STAND-IN written by s6-gates so the engine's checks run before the merge: s6-gatesemu
 * owns this file (size, not_blank with sharp's statistics, aspect); its version wins at merge.
 */

export interface ImageChecks {
  size?: { width?: number; height?: number; minimum: boolean };
  not_blank?: boolean;
  aspect?: { width: number; height: number; tolerance: number };
}

/** A channel whose standard deviation is below this is flat: the image is near-uniform. */
const BLANK_STDEV = 2;

export async function checkImage(image: string | Buffer, spec: ImageChecks): Promise<CheckVerdict[]> {
  const sharp = (await import('sharp')).default;
  const verdicts: CheckVerdict[] = [];
  const meta = await sharp(image).metadata();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (spec.size) {
    const { width: w, height: h, minimum } = spec.size;
    const off = (want: number | undefined, got: number): boolean => want !== undefined && (minimum ? got < want : got !== want);
    const passed = !off(w, width) && !off(h, height);
    const wanted = `${w ?? 'any'}x${h ?? 'any'}`;
    verdicts.push(
      passed ? { check: 'size', passed } : { check: 'size', passed, reason: `${width}x${height} pixels, ${minimum ? 'at least' : 'expected'} ${wanted}` },
    );
  }
  if (spec.not_blank) {
    const stats = await sharp(image).stats();
    const flat = stats.channels.slice(0, 3).every((c) => c.stdev < BLANK_STDEV);
    verdicts.push(flat ? { check: 'not_blank', passed: false, reason: 'the image is blank (near-uniform)' } : { check: 'not_blank', passed: true });
  }
  if (spec.aspect) {
    const want = spec.aspect.width / spec.aspect.height;
    const got = height > 0 ? width / height : 0;
    const passed = Math.abs(got - want) / want <= spec.aspect.tolerance;
    verdicts.push(
      passed
        ? { check: 'aspect', passed }
        : { check: 'aspect', passed, reason: `${width}x${height} is ${got.toFixed(3)}:1, expected ${spec.aspect.width}:${spec.aspect.height}` },
    );
  }
  return verdicts;
}
