import { endianness } from 'node:os';
import type { GeneratedMedia, ProviderResult, Usage } from '../providers/provider.js';
import { sha256Of } from './blob-files.js';

/**
 * How a ProviderResult is kept in the cache: everything but media bytes and vectors as JSON; media
 * bytes as blob files named by their sha256 (the JSON keeps mime type, hash and size); embedding
 * vectors as one binary column of little-endian float64 values (the JSON keeps each vector's
 * length). float64 because the vectors come from JSON numbers: they read back exactly, which a
 * float32 copy would not.
 */

interface StoredMedia {
  mimeType: string;
  sha256: string;
  bytes: number;
  uri?: string;
}

interface StoredResult {
  text?: string;
  /** Present (possibly null) when the result had a `json` member. */
  json?: unknown;
  media?: StoredMedia[];
  /** The length of each vector, in order; their values are the binary column. */
  vectorLengths?: number[];
  usage: Usage;
  modelVersion?: string;
  responseId?: string;
  finishReason?: string;
}

export interface EncodedResult {
  json: string;
  vectors: Buffer | undefined;
  blobs: { sha: string; data: Buffer }[];
}

const LITTLE_ENDIAN = endianness() === 'LE';

function encodeVectors(vectors: readonly number[][]): Buffer {
  const flat = new Float64Array(vectors.reduce((n, v) => n + v.length, 0));
  let at = 0;
  for (const vector of vectors) {
    flat.set(vector, at);
    at += vector.length;
  }
  const bytes = Buffer.from(flat.buffer, flat.byteOffset, flat.byteLength);
  return LITTLE_ENDIAN ? bytes : Buffer.from(bytes).swap64();
}

function decodeVectors(data: Buffer, lengths: readonly number[]): number[][] | undefined {
  const total = lengths.reduce((n, l) => n + l, 0);
  if (data.length !== total * 8) return undefined;
  // A copy: aligned for Float64Array, and swapped on a big-endian host.
  const copy = Buffer.from(data);
  if (!LITTLE_ENDIAN) copy.swap64();
  const flat = new Float64Array(copy.buffer, copy.byteOffset, total);
  const vectors: number[][] = [];
  let at = 0;
  for (const length of lengths) {
    vectors.push(Array.from(flat.subarray(at, at + length)));
    at += length;
  }
  return vectors;
}

export function encodeResult(result: ProviderResult): EncodedResult {
  const blobs: { sha: string; data: Buffer }[] = [];
  const stored: StoredResult = { usage: result.usage };
  if (result.text !== undefined) stored.text = result.text;
  if ('json' in result && result.json !== undefined) stored.json = result.json;
  if (result.media) {
    stored.media = result.media.map((m) => {
      const sha = sha256Of(m.data);
      if (!blobs.some((b) => b.sha === sha)) blobs.push({ sha, data: m.data });
      return { mimeType: m.mimeType, sha256: sha, bytes: m.data.length, ...(m.uri === undefined ? {} : { uri: m.uri }) };
    });
  }
  if (result.vectors) stored.vectorLengths = result.vectors.map((v) => v.length);
  if (result.modelVersion !== undefined) stored.modelVersion = result.modelVersion;
  if (result.responseId !== undefined) stored.responseId = result.responseId;
  if (result.finishReason !== undefined) stored.finishReason = result.finishReason;
  return { json: JSON.stringify(stored), vectors: result.vectors ? encodeVectors(result.vectors) : undefined, blobs };
}

/**
 * The result back from its JSON, its vectors and its blobs' bytes (`blob(sha)`: undefined when the
 * file is missing or damaged). Undefined when anything is missing: a partial answer is never served.
 */
export async function decodeResult(
  json: string,
  vectors: Buffer | undefined,
  blob: (sha: string) => Promise<Buffer | undefined>,
): Promise<{ result: ProviderResult } | { missingBlob: string } | undefined> {
  const stored = JSON.parse(json) as StoredResult;
  const result: ProviderResult = { usage: stored.usage };
  if (stored.text !== undefined) result.text = stored.text;
  if ('json' in stored) result.json = stored.json;
  if (stored.media) {
    const media: GeneratedMedia[] = [];
    for (const m of stored.media) {
      const data = await blob(m.sha256);
      if (data === undefined) return { missingBlob: m.sha256 };
      media.push({ mimeType: m.mimeType, data, ...(m.uri === undefined ? {} : { uri: m.uri }) });
    }
    result.media = media;
  }
  if (stored.vectorLengths) {
    const decoded = vectors === undefined ? undefined : decodeVectors(vectors, stored.vectorLengths);
    if (decoded === undefined) return undefined;
    result.vectors = decoded;
  }
  if (stored.modelVersion !== undefined) result.modelVersion = stored.modelVersion;
  if (stored.responseId !== undefined) result.responseId = stored.responseId;
  if (stored.finishReason !== undefined) result.finishReason = stored.finishReason;
  return { result };
}
