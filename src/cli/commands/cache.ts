import { formatByteSize, parseByteSize } from '../../cache/byte-size.js';
import { ResponseCache, type CacheStats } from '../../cache/response-cache.js';
import { GenbatchError } from '../../errors/genbatch-error.js';
import { parseDuration } from '../../job/duration.js';
import { line, type CliIO } from '../io.js';

export type CacheAction = 'stats' | 'clear' | 'prune';

export interface CacheFlags {
  json?: boolean;
  /** prune: evict least recently used entries down to this size (`500MB`, `2GB`, bytes). */
  maxSize?: string;
  /** prune: evict entries unused for this long (`30d`, `12h`). */
  olderThan?: string;
}

const count = (n: number): string => n.toLocaleString('en-US');

function usage(message: string): GenbatchError {
  return new GenbatchError(message, { code: 'USAGE', exitCode: 2 });
}

function maxSizeOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const bytes = parseByteSize(value);
  if (bytes === undefined) throw usage(`--max-size "${value}": expected a size such as 500MB, 2GB or a number of bytes (MB and GB count in 1024s).`);
  return bytes;
}

function olderThanOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw usage(`--older-than "${value}": expected a duration above 0 such as 30d, 12h or 90m.`);
  return ms;
}

function hitRate(stats: CacheStats): number | null {
  const lookups = stats.hits + stats.misses;
  return lookups === 0 ? null : stats.hits / lookups;
}

function statsJson(stats: CacheStats): Record<string, unknown> {
  const rate = hitRate(stats);
  return {
    dir: stats.dir,
    entries: stats.entries,
    bytes: stats.bytes,
    blobs: stats.blobs,
    blob_bytes: stats.blobBytes,
    max_bytes: stats.maxBytes,
    hits: stats.hits,
    misses: stats.misses,
    hit_rate: rate === null ? null : Math.round(rate * 10_000) / 10_000,
    oldest_used_at: stats.oldestUsedAt === undefined ? null : new Date(stats.oldestUsedAt).toISOString(),
  };
}

function statsLines(stats: CacheStats): string[] {
  const rate = hitRate(stats);
  return [
    `Response cache: ${stats.dir}`,
    `  entries:   ${count(stats.entries)}, with ${count(stats.blobs)} image/video file(s) (${formatByteSize(stats.blobBytes)})`,
    `  size:      ${formatByteSize(stats.bytes)} of ${formatByteSize(stats.maxBytes)} (least recently used entries go past that)`,
    `  hit rate:  ${rate === null ? 'no lookups yet' : `${(rate * 100).toFixed(1)}% (${count(stats.hits)} hits, ${count(stats.misses)} misses)`}`,
    ...(stats.oldestUsedAt === undefined ? [] : [`  least recently used entry last used ${new Date(stats.oldestUsedAt).toISOString()}`]),
  ];
}

/**
 * `genbatch cache stats|clear|prune`: the response cache shared by every job of the user (GENBATCH_CACHE_DIR).
 * Reports go to stdout (one JSON object with --json).
 */
export function cacheCommand(action: CacheAction, flags: CacheFlags, io: CliIO): number {
  const maxBytes = maxSizeOf(flags.maxSize);
  const olderThanMs = olderThanOf(flags.olderThan);
  const cache = ResponseCache.open();
  try {
    if (action === 'stats') {
      const stats = cache.stats();
      if (flags.json) line(io.stdout, JSON.stringify(statsJson(stats), null, 2));
      else for (const text of statsLines(stats)) line(io.stdout, text);
      return 0;
    }
    if (action === 'clear') {
      const damaged = cache.unavailable;
      const cleared = cache.clear();
      if (flags.json)
        line(io.stdout, JSON.stringify({ dir: cache.dir, entries: cleared.entries, bytes: cleared.bytes, removed_unusable: damaged !== undefined }));
      else if (damaged)
        line(io.stdout, `Removed the unusable response cache in ${cache.dir} (${formatByteSize(cleared.bytes)}): ${damaged.message} It starts empty.`);
      else line(io.stdout, `Cleared the response cache in ${cache.dir}: ${count(cleared.entries)} entries, ${formatByteSize(cleared.bytes)}.`);
      return 0;
    }
    const pruned = cache.prune({
      ...(maxBytes === undefined ? {} : { maxBytes }),
      ...(olderThanMs === undefined ? {} : { olderThanMs }),
    });
    const after = cache.stats();
    if (flags.json) {
      line(
        io.stdout,
        JSON.stringify(
          { evicted_entries: pruned.entries, freed_bytes: pruned.bytes, orphan_files: pruned.orphanFiles, temp_files: pruned.tempFiles, ...statsJson(after) },
          null,
          2,
        ),
      );
    } else {
      line(
        io.stdout,
        `Pruned the response cache in ${cache.dir}: ${count(pruned.entries)} entries evicted, ${count(pruned.orphanFiles)} orphan file(s) and ` +
          `${count(pruned.tempFiles)} temp file(s) removed, ${formatByteSize(pruned.bytes)} freed. ` +
          `Now ${count(after.entries)} entries, ${formatByteSize(after.bytes)} of ${formatByteSize(after.maxBytes)}.`,
      );
    }
    return 0;
  } finally {
    cache.close();
  }
}
