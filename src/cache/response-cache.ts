import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors/config-error.js';
import type { ProviderResult } from '../providers/provider.js';
import { CacheFileRefused, ResponseCacheStore, type CacheRemoval } from '../store/response-cache-store.js';
import { TurnBatch } from '../store/turn-batch.js';
import { BlobFiles } from './blob-files.js';
import { parseByteSize } from './byte-size.js';
import { BLOBS_DIR, CACHE_FILE, cacheDir } from './cache-dir.js';
import { CacheUnavailableError } from './cache-unavailable-error.js';
import { decodeResult, encodeResult } from './stored-result.js';

export { cacheDir } from './cache-dir.js';
export { cacheKeyOf } from './cache-key.js';
export { CacheUnavailableError } from './cache-unavailable-error.js';

/** The size cap when neither `maxBytes` nor GENBATCH_CACHE_MAX_BYTES sets one. */
export const DEFAULT_CACHE_MAX_BYTES = 2 * 1024 ** 3;
/** A blob file younger than this is never taken for an orphan: its entry may be being stored by another process. */
const ORPHAN_GRACE_MS = 60_000;
/** Entries removed per read of the least recently used ones, while evicting. */
const EVICT_BATCH = 32;
/**
 * Stores, uses and misses are written together, one transaction per batch: a write transaction per
 * lookup cost a run more than the lookups themselves. A batch is written when it holds this many,
 * or this long after its first, and always on close. A `kill -9` loses at most that much: each lost
 * answer is paid again by the next identical request, nothing worse.
 */
const WRITE_BATCH = 128;
const WRITE_DELAY_MS = 100;

/** An answer stored but not yet written to the file (its blob files are already in place). */
interface PendingPut {
  result: ProviderResult;
  entry: Parameters<ResponseCacheStore['putEntry']>[0];
  blobs: { sha: string; bytes: number }[];
}

/** What waits for the next batch: answers stored, entries used (by key, last use), and the hit and miss counts. */
interface PendingWrites {
  puts: Map<string, PendingPut>;
  uses: Map<string, number>;
  hits: number;
  misses: number;
}

export interface CacheStats {
  entries: number;
  /** Everything the cap counts: the entries (results, vectors) and the blob files, each blob once. */
  bytes: number;
  blobs: number;
  /** The part of `bytes` in blob files (image and video bytes). */
  blobBytes: number;
  /** Lookups answered and not answered, since the cache was made or last cleared, by every process. */
  hits: number;
  misses: number;
  dir: string;
  maxBytes: number;
  /** When the least recently used entry was last used (epoch ms). */
  oldestUsedAt?: number;
}

export interface ResponseCacheOptions {
  /** Default: cacheDir(env). */
  dir?: string;
  /** Default: GENBATCH_CACHE_MAX_BYTES (`500MB`, `2GB`, or bytes), else 2 GB. */
  maxBytes?: number;
  env?: NodeJS.ProcessEnv;
  /** Called once, when the cache becomes unavailable (at open or later): to say so once in the run's log. */
  onUnavailable?: (error: CacheUnavailableError) => void;
  /** Called once, when the cache folder cannot be written: its answers are read, nothing new is stored. */
  onReadOnly?: (message: string) => void;
  /** The time (epoch ms) of last use; tests set it. */
  clock?: () => number;
}

/** The cap set by GENBATCH_CACHE_MAX_BYTES, if any. A value that is not a size is bad input (exit 2), not a silent default. */
export function cacheMaxBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env.GENBATCH_CACHE_MAX_BYTES;
  if (value === undefined || value.trim() === '') return undefined;
  const bytes = parseByteSize(value);
  if (bytes === undefined)
    throw new ConfigError(`GENBATCH_CACHE_MAX_BYTES is "${value}": expected a size such as 500MB, 2GB or a number of bytes.`, {
      code: 'CACHE_MAX_BYTES',
      keyPath: 'GENBATCH_CACHE_MAX_BYTES',
      hint: 'Fix or unset the environment variable GENBATCH_CACHE_MAX_BYTES (unset, the cache holds up to 2 GB).',
    });
  return bytes;
}

function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A failure of the file or the disk, as the unavailable cache it makes. */
function unavailableOf(error: unknown, dir: string, file: string): CacheUnavailableError {
  if (error instanceof CacheUnavailableError) return error;
  if (error instanceof CacheFileRefused) {
    return error.reason === 'too_new'
      ? new CacheUnavailableError('too_new', dir, `The response cache is not used: ${error.message}`, {
          hint: 'Upgrade genbatch, or give this version a cache of its own with GENBATCH_CACHE_DIR (or `genbatch cache clear` to start it afresh). Runs go on meanwhile, without the cache.',
          cause: error,
        })
      : new CacheUnavailableError('foreign', dir, `The response cache is not used: ${error.message}`, {
          hint: 'Point GENBATCH_CACHE_DIR at a folder of its own: genbatch never writes into or deletes another database. Runs go on meanwhile, without the cache.',
          cause: error,
        });
  }
  const code = sqliteCode(error) ?? '';
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_IOERR_SHORT_READ')
    return new CacheUnavailableError('damaged', dir, `The response cache ${file} is damaged (SQLite: ${message}); it is not used.`, { cause: error });
  return new CacheUnavailableError('io', dir, `The response cache in ${dir} cannot be used: ${message}.`, {
    hint: 'Check that the folder is writable and its disk not full, or point GENBATCH_CACHE_DIR elsewhere; `genbatch cache clear` starts it afresh. Runs go on meanwhile, without the cache.',
    cause: error,
  });
}

/** Bytes of the files under a folder (what a damaged cache held). */
function sizeOfTree(path: string): number {
  const info = statSync(path, { throwIfNoEntry: false });
  if (!info) return 0;
  if (!info.isDirectory()) return info.size;
  return readdirSync(path).reduce((n, name) => n + sizeOfTree(join(path, name)), 0);
}

/**
 * The response cache: answers to requests already paid for, by request key (cacheKeyOf), shared by
 * every job and process of the user. Results live in a SQLite file in the cache folder, media bytes
 * in blob files named by their hash (src/cache/blob-files.ts), and the least recently used entries
 * go when the total passes `maxBytes`.
 *
 * A cache problem never stops a run: `open`, `get`, `put` and `forget` never throw for a damaged,
 * foreign or newer file or a failing disk. The cache then sets `unavailable` (a CacheUnavailableError
 * saying what is wrong and what to do; `onUnavailable` is called once), every lookup is a miss and
 * nothing is stored. `stats` and `prune` throw that error instead; `clear` removes a damaged cache.
 */
export class ResponseCache {
  readonly dir: string;
  readonly file: string;
  readonly maxBytes: number;
  #store: ResponseCacheStore | undefined;
  #unavailable: CacheUnavailableError | undefined;
  readonly #blobs: BlobFiles;
  readonly #clock: () => number;
  readonly #onUnavailable: ((error: CacheUnavailableError) => void) | undefined;
  readonly #onReadOnly: ((message: string) => void) | undefined;
  /** Why the cache folder cannot be written (EROFS, EACCES), when it cannot: read from a copy, nothing stored. */
  #readOnly: string | undefined;
  /** Answers rejected while the cache is read-only: not served again by this process. */
  readonly #forgotten = new Set<string>();
  /** Written by the next batch (see WRITE_BATCH); the counts are one write of the batch. */
  readonly #pending = new TurnBatch<PendingWrites>({
    empty: () => ({ puts: new Map(), uses: new Map(), hits: 0, misses: 0 }),
    size: (w) => w.puts.size + w.uses.size + (w.hits + w.misses > 0 ? 1 : 0),
    write: (w) => this.#write(w),
    max: WRITE_BATCH,
    delayMs: WRITE_DELAY_MS,
    // Never what keeps a process alive: close() writes what is left.
    unref: true,
  });

  private constructor(dir: string, maxBytes: number, options: ResponseCacheOptions) {
    this.dir = dir;
    this.file = join(dir, CACHE_FILE);
    this.maxBytes = maxBytes;
    this.#blobs = new BlobFiles(join(dir, BLOBS_DIR));
    this.#clock = options.clock ?? Date.now;
    this.#onUnavailable = options.onUnavailable;
    this.#onReadOnly = options.onReadOnly;
  }

  /** Opens (creates) the cache. Throws only a ConfigError for a GENBATCH_CACHE_MAX_BYTES that is not a size; see `unavailable`. */
  static open(options: ResponseCacheOptions = {}): ResponseCache {
    const env = options.env ?? process.env;
    const maxBytes = options.maxBytes ?? cacheMaxBytesFromEnv(env) ?? DEFAULT_CACHE_MAX_BYTES;
    const cache = new ResponseCache(options.dir ?? cacheDir(env), maxBytes, options);
    cache.#connect();
    return cache;
  }

  /**
   * The cache as `open`, or undefined when its file does not exist yet (an estimate looks answers up
   * but never creates a cache).
   */
  static openExisting(options: ResponseCacheOptions = {}): ResponseCache | undefined {
    const dir = options.dir ?? cacheDir(options.env ?? process.env);
    return existsSync(join(dir, CACHE_FILE)) ? ResponseCache.open({ ...options, dir }) : undefined;
  }

  #connect(): void {
    try {
      const readOnly = this.#notWritable();
      if (readOnly !== undefined) return this.#connectReadOnly(readOnly);
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.#store = ResponseCacheStore.open(this.file);
    } catch (error) {
      // Writable to access(2), refused by SQLite or the disk (an ACL, a read-only file system seen late): read it all the same.
      const code = sqliteCode(error) ?? '';
      if (existsSync(this.file) && /^(SQLITE_READONLY|SQLITE_CANTOPEN|EROFS|EACCES|EPERM)/.test(code)) this.#connectReadOnly(code);
      else this.#fail(error);
    }
  }

  /** Why the cache folder or file cannot be written (EROFS, EACCES), or undefined when it can (or does not exist yet). */
  #notWritable(): string | undefined {
    for (const path of [this.dir, this.file]) {
      if (!existsSync(path)) continue;
      try {
        accessSync(path, constants.W_OK);
      } catch (error) {
        return (error as NodeJS.ErrnoException).code ?? 'not writable';
      }
    }
    return undefined;
  }

  /**
   * A cache folder this process cannot write (a read-only mount, a shared folder of another user):
   * its answers are read (from a private copy of the file, see ResponseCacheStore.openCopy) and
   * served, nothing is stored, and the run is told once.
   */
  #connectReadOnly(reason: string): void {
    this.#store?.close();
    this.#store = undefined;
    if (!existsSync(this.file)) {
      this.#fail(new CacheUnavailableError('io', this.dir, `The response cache folder ${this.dir} is read-only (${reason}) and holds no answers.`));
      return;
    }
    try {
      this.#store = ResponseCacheStore.openCopy(this.file);
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#readOnly = reason;
    this.#onReadOnly?.(
      `The response cache in ${this.dir} is read-only (${reason}): the answers it holds are used; nothing new is stored in it. Make the folder writable (or point GENBATCH_CACHE_DIR at a writable one) to keep new answers.`,
    );
  }

  /** Why the cache folder cannot be written (EROFS, EACCES), when it cannot: answers are read, none stored. */
  get readOnly(): string | undefined {
    return this.#readOnly;
  }

  /** A read-only cache cannot be pruned or cleared: refused, saying why. */
  #requireWritable(what: string): void {
    if (this.#readOnly === undefined) return;
    throw new CacheUnavailableError('io', this.dir, `The response cache in ${this.dir} is read-only (${this.#readOnly}): it cannot be ${what}.`, {
      hint: 'Make the folder writable (remount it read-write, or fix its permissions), or point GENBATCH_CACHE_DIR at another folder.',
    });
  }

  /** Set when the cache cannot be used (and is then bypassed): what is wrong and what to do. */
  get unavailable(): CacheUnavailableError | undefined {
    return this.#unavailable;
  }

  #fail(error: unknown): void {
    if (this.#unavailable) return;
    this.#unavailable = unavailableOf(error, this.dir, this.file);
    try {
      this.#store?.close();
    } catch {
      // Closing a damaged file may fail too; it is dropped either way.
    }
    this.#store = undefined;
    this.#onUnavailable?.(this.#unavailable);
  }

  #requireStore(): ResponseCacheStore {
    if (this.#store) return this.#store;
    throw this.#unavailable ?? new CacheUnavailableError('io', this.dir, `The response cache in ${this.dir} is closed.`);
  }

  #dropFiles(removal: CacheRemoval): void {
    this.#blobs.remove(removal.orphans);
  }

  /**
   * The stored result of a key, media bytes read back from their blob files and checked against their
   * hash: a missing or damaged blob is a miss, and the entries using it are dropped. A hit marks the entry used now.
   */
  async get(key: string): Promise<ProviderResult | undefined> {
    const store = this.#store;
    if (!store || this.#forgotten.has(key)) return undefined;
    const pending = this.#pending.batch.puts.get(key);
    if (pending) {
      this.#used(key);
      return pending.result;
    }
    try {
      const row = store.entry(key);
      if (!row) {
        this.#record((w) => (w.misses += 1));
        return undefined;
      }
      const decoded = await decodeResult(row.result, row.vectors, (sha) => this.#blobs.read(sha)).catch(() => undefined);
      // Closed while the blobs were read: nothing more to record.
      if (this.#store !== store) return undefined;
      if (decoded === undefined || 'missingBlob' in decoded) {
        // A read-only cache keeps its entries as they are: a damaged one is only a miss.
        if (this.#readOnly === undefined) this.#dropFiles(decoded === undefined ? store.removeEntry(key) : store.removeBlob(decoded.missingBlob));
        this.#record((w) => (w.misses += 1));
        return undefined;
      }
      this.#used(key);
      return decoded.result;
    } catch (error) {
      this.#fail(error);
      return undefined;
    }
  }

  /**
   * Which of `keys` the cache would answer, without serving any: no use recorded, no hit or miss
   * counted (an estimate's look-up). A page of keys per SQLite statement: cheap for 100,000 keys.
   */
  has(keys: readonly string[]): Set<string> {
    const store = this.#store;
    if (!store || keys.length === 0) return new Set();
    try {
      const found = store.presentKeys(keys);
      for (const key of keys) if (this.#pending.batch.puts.has(key)) found.add(key);
      for (const key of this.#forgotten) found.delete(key);
      return found;
    } catch (error) {
      this.#fail(error);
      return new Set();
    }
  }

  /** A hit: the entry was used now (written with the next batch). */
  #used(key: string): void {
    this.#record((w) => {
      w.hits += 1;
      w.uses.set(key, this.#clock());
    });
  }

  /** Adds to the next batch and sets its write. */
  #record(change: (pending: PendingWrites) => void): void {
    // Read-only: uses are not recorded (the file is a private copy, thrown away on close).
    if (this.#readOnly !== undefined) {
      change(this.#pending.batch);
      this.#pending.batch.uses.clear();
      return;
    }
    this.#pending.update(change);
  }

  /** Writes the stores, uses and misses waiting for their batch, in one transaction; then evicts past the cap. */
  flush(): void {
    this.#pending.flush();
  }

  #write(pending: PendingWrites): void {
    const store = this.#store;
    if (!store) return;
    const puts = [...pending.puts.values()];
    const uses = [...pending.uses];
    const counts = { hits: pending.hits, misses: pending.misses };
    try {
      const orphans = store.transaction(() => {
        const freed: string[] = [];
        for (const put of puts) freed.push(...store.putEntry(put.entry, put.blobs));
        for (const [key, at] of uses) store.touch(key, at);
        store.count(counts.hits, counts.misses);
        return freed;
      });
      this.#blobs.remove(orphans);
      if (store.bytesUsed() > this.maxBytes) this.#evict(store, this.maxBytes, undefined);
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * Stores a result: media bytes as blob files (deduplicated by hash, written atomically), the rest in
   * SQLite, replacing any earlier entry of the key; then evicts the least recently used entries past
   * `maxBytes`. A filtered result (a safety block may not repeat), a reply the model did not finish
   * (kept truncated: another call may finish it) and one larger than the cap are not stored.
   */
  async put(key: string, result: ProviderResult, meta: { model: string; task: string }): Promise<void> {
    if (!this.#store || this.#readOnly !== undefined || result.filtered !== undefined || result.truncated === true) return;
    if (result.finishReason !== undefined && result.finishReason !== 'STOP') return;
    try {
      const encoded = encodeResult(result);
      const bytes = Buffer.byteLength(encoded.json) + (encoded.vectors?.length ?? 0) + key.length + meta.model.length + meta.task.length + 32;
      if (bytes + encoded.blobs.reduce((n, b) => n + b.data.length, 0) > this.maxBytes) return;
      for (const blob of encoded.blobs) await this.#blobs.write(blob.sha, blob.data);
      if (!this.#store) return;
      const put: PendingPut = {
        result,
        entry: { key, model: meta.model, task: meta.task, result: encoded.json, vectors: encoded.vectors, bytes, now: this.#clock() },
        blobs: encoded.blobs.map((b) => ({ sha: b.sha, bytes: b.data.length })),
      };
      this.#record((w) => w.puts.set(key, put));
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Removes one entry (a rejected answer: it is never served again). Its blobs go when no other entry uses them. */
  forget(key: string): void {
    if (this.#readOnly !== undefined) {
      // It cannot leave a read-only cache: this process at least never serves it again.
      this.#forgotten.add(key);
      return;
    }
    this.#pending.batch.puts.delete(key);
    this.#pending.batch.uses.delete(key);
    this.flush();
    const store = this.#store;
    if (!store) return;
    try {
      this.#dropFiles(store.removeEntry(key));
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Evicts least recently used entries until the total is at most `targetBytes`, after those unused for longer than `olderThanMs`. */
  #evict(store: ResponseCacheStore, targetBytes: number, olderThanMs: number | undefined): { entries: number; bytes: number } {
    const before = store.bytesUsed();
    const orphans: string[] = [];
    let entries = 0;
    const remove = (key: string): void => {
      const removal = store.removeEntry(key);
      entries += removal.entries;
      orphans.push(...removal.orphans);
    };
    store.transaction(() => {
      if (olderThanMs !== undefined) for (const key of store.unusedSince(this.#clock() - olderThanMs)) remove(key);
      while (store.bytesUsed() > targetBytes) {
        const oldest = store.leastRecentlyUsed(EVICT_BATCH);
        if (oldest.length === 0) break;
        for (const key of oldest) {
          remove(key);
          if (store.bytesUsed() <= targetBytes) break;
        }
      }
    });
    // After the commit: a file is deleted only once no entry can refer to it.
    this.#blobs.remove(orphans);
    return { entries, bytes: before - store.bytesUsed() };
  }

  /** Throws CacheUnavailableError when the cache cannot be used. */
  stats(): CacheStats {
    this.flush();
    const totals = this.#requireStore().totals();
    return {
      entries: totals.entries,
      bytes: totals.entryBytes + totals.blobBytes,
      blobs: totals.blobs,
      blobBytes: totals.blobBytes,
      hits: totals.hits,
      misses: totals.misses,
      dir: this.dir,
      maxBytes: this.maxBytes,
      ...(totals.oldestUsedAt === undefined ? {} : { oldestUsedAt: totals.oldestUsedAt }),
    };
  }

  /**
   * Empties the cache (hit and miss counts too) and returns what it held. A damaged or too new cache
   * file is deleted with its blobs and the cache starts afresh; a foreign database is never deleted (throws).
   */
  clear(): { entries: number; bytes: number } {
    this.#requireWritable('cleared');
    this.flush();
    const store = this.#store;
    if (store) {
      try {
        const before = store.clear();
        this.#blobs.removeAll();
        store.reclaimSpace();
        return { entries: before.entries, bytes: before.entryBytes + before.blobBytes };
      } catch (error) {
        this.#fail(error);
      }
    }
    const problem = this.#unavailable;
    if (problem?.reason === 'foreign') throw problem;
    let bytes = sizeOfTree(this.#blobs.root);
    for (const suffix of ['', '-wal', '-shm']) {
      bytes += sizeOfTree(this.file + suffix);
      rmSync(this.file + suffix, { force: true });
    }
    this.#blobs.removeAll();
    this.#unavailable = undefined;
    this.#connect();
    return { entries: 0, bytes };
  }

  /**
   * Evicts the least recently used entries until the total is at most `maxBytes` (default: the cap),
   * and first every entry unused for longer than `olderThanMs`; then removes blob files no entry
   * refers to and temp files of writers that died. Throws CacheUnavailableError when the cache cannot be used.
   */
  prune(options: { maxBytes?: number; olderThanMs?: number } = {}): { entries: number; bytes: number; orphanFiles: number; tempFiles: number } {
    this.#requireWritable('pruned');
    this.flush();
    const store = this.#requireStore();
    try {
      const evicted = this.#evict(store, options.maxBytes ?? this.maxBytes, options.olderThanMs);
      // File times are real time, whatever the clock of last use.
      const orphans = this.#blobs.removeOrphans((sha) => store.hasBlob(sha), Date.now(), ORPHAN_GRACE_MS);
      store.reclaimSpace();
      return { entries: evicted.entries, bytes: evicted.bytes + orphans.bytes, orphanFiles: orphans.files, tempFiles: orphans.temps };
    } catch (error) {
      this.#fail(error);
      throw this.#unavailable ?? error;
    }
  }

  /** Writes what waits for its batch, then closes the file. */
  close(): void {
    this.flush();
    this.#store?.close();
    this.#store = undefined;
  }
}
