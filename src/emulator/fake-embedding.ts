import { hashParts, seededRandom } from './seeded-random.js';

/**
 * Deterministic unit vectors that behave a little like embeddings: each word adds a fixed sparse
 * direction (so texts sharing words are closer), plus a smaller text-specific component.
 */
const WORD_WEIGHT = 0.8;
const NOISE_WEIGHT = 0.2;
const TOUCHES_PER_WORD = 24;

function normalise(vector: Float64Array): Float64Array {
  let norm = 0;
  for (const v of vector) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] ?? 0) / norm;
  return vector;
}

export function fakeEmbedding(seed: number, model: string, taskType: string, text: string, dimensions: number): number[] {
  const words = new Float64Array(dimensions);
  for (const match of text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    const h = hashParts(seed, model, 'word', match[0]);
    for (let k = 0; k < TOUCHES_PER_WORD; k++) {
      const mixed = Math.imul((h[k % 8] ?? 0) ^ Math.imul(k + 1, 0x9e3779b1), 0x85ebca6b) >>> 0;
      const index = mixed % dimensions;
      words[index] = (words[index] ?? 0) + (mixed & 0x10000 ? 1 : -1);
    }
  }
  const noise = new Float64Array(dimensions);
  const rng = seededRandom(seed, model, 'text', taskType, text);
  for (let i = 0; i < dimensions; i++) noise[i] = rng.normal(0, 1);
  normalise(words);
  normalise(noise);
  const mixed = new Float64Array(dimensions);
  for (let i = 0; i < dimensions; i++) mixed[i] = WORD_WEIGHT * (words[i] ?? 0) + NOISE_WEIGHT * (noise[i] ?? 0);
  return Array.from(normalise(mixed), (v) => Math.round(v * 1e7) / 1e7);
}
