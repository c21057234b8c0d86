import { createHash } from 'node:crypto';

/**
 * Deterministic randomness for the emulator: the same seed parts always give the same stream,
 * so a rehearsal can be replayed exactly (same prompt → same text, same image bytes).
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** Normal distribution (Box-Muller). */
  normal(mean: number, sd: number): number;
  chance(probability: number): boolean;
}

/** 32-bit hashes of the seed parts, from SHA-256 (stable across platforms and Node versions). */
export function hashParts(...parts: readonly (string | number)[]): Uint32Array {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(String(part));
    hash.update('\u0000');
  }
  const digest = hash.digest();
  // Copy: the digest may sit at an unaligned offset of a shared buffer.
  return new Uint32Array(Uint8Array.from(digest).buffer);
}

export function seededRandom(...parts: readonly (string | number)[]): Rng {
  const h = hashParts(...parts);
  // sfc32: small, fast and good enough for test data; state comes from the hash above.
  let a = h[0] ?? 1;
  let b = h[1] ?? 2;
  let c = h[2] ?? 3;
  let d = h[3] ?? 4;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  const rng: Rng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new RangeError('pick() needs a non-empty list');
      return item;
    },
    normal: (mean, sd) => {
      const u = 1 - next();
      const v = next();
      return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    chance: (probability) => next() < probability,
  };
  return rng;
}
