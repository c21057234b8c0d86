/**
 * Sizes as people write them for the cache cap (`--max-size 500MB`, GENBATCH_CACHE_MAX_BYTES=2GB):
 * a number of bytes, or a number with B, KB, MB, GB or TB. Units are powers of 1024 (MB = MiB,
 * and MiB is accepted too), as `du -h` and most caches count.
 */
const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export function parseByteSize(value: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|(b))?\s*$/i.exec(value);
  if (!match) return undefined;
  const unit = UNITS[(match[2] ?? match[3] ?? 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** `1.5 MB`, `2048 MB`, `312 KB`: sizes in the units parseByteSize reads. */
export function formatByteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  const mb = bytes / 1024 ** 2;
  return `${mb < 100 ? mb.toFixed(1) : Math.round(mb).toLocaleString('en-US')} MB`;
}
