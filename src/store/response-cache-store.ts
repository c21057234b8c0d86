import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { GenbatchError } from '../errors/genbatch-error.js';
import {
  ADD_BLOB,
  BLOB_IN_USE,
  BYTES_USED,
  CACHE_SCHEMA,
  CLEAR_BLOBS,
  CLEAR_ENTRIES,
  CLEAR_ENTRY_BLOBS,
  CLEAR_TOTALS,
  COUNT_LOOKUPS,
  DELETE_BLOB,
  DELETE_ENTRY,
  ENTRIES_USING_BLOB,
  ENTRY_BLOBS,
  ENTRY_ID,
  GET_ENTRY,
  HAS_BLOB,
  INSERT_ENTRY,
  KEYS_PER_LOOKUP,
  LEAST_RECENTLY_USED,
  LINK_BLOB,
  OLDEST_USE,
  PRESENT_KEYS,
  TOTALS,
  TOUCH_ENTRY,
  UNUSED_SINCE,
} from './sql/response-cache.js';
import { USER_TABLES, dropTableSql } from './sql/schema.js';
import { Statements } from './statements.js';

/**
 * The response cache's SQLite file (responses.db in the cache folder), shared by every genbatch
 * process of the user: one row per cached answer (its result as JSON, embedding vectors as a
 * binary column), the media blobs it refers to (the bytes are files, see src/cache/blob-files.ts),
 * and running totals kept by triggers, so that the size check after each store and `cache stats`
 * cost one row read instead of a scan. WAL mode and a busy timeout: each operation is one short
 * transaction, so processes never wait on each other for longer than that.
 *
 * Nothing here decides what to keep: src/cache/response-cache.ts chooses what to evict (least
 * recently used first) and when.
 */

const SCHEMA_VERSION = 1;

/** What a cached answer is stored as (the result's JSON and its vectors, made by src/cache/stored-result.ts). */
export interface CacheEntryData {
  result: string;
  vectors: Buffer | undefined;
}

export interface CacheEntryRow extends CacheEntryData {
  blobs: string[];
}

export interface CacheTotals {
  entries: number;
  /** Bytes of the entries' rows (results and vectors). */
  entryBytes: number;
  blobs: number;
  /** Bytes of the blob files, each counted once however many entries share it. */
  blobBytes: number;
  hits: number;
  misses: number;
  oldestUsedAt: number | undefined;
}

/** Entries removed, and the blobs no entry refers to any more (their files are the caller's to delete). */
export interface CacheRemoval {
  entries: number;
  orphans: string[];
}

/** Why an existing file is not opened as a cache: written by a newer genbatch, or another program's database. */
export class CacheFileRefused extends GenbatchError {
  constructor(
    readonly reason: 'too_new' | 'foreign',
    message: string,
  ) {
    super(message, { code: reason === 'too_new' ? 'CACHE_TOO_NEW' : 'CACHE_FOREIGN' });
  }
}

export class ResponseCacheStore {
  private readonly sql: Statements;

  private constructor(
    private readonly db: Database.Database,
    /** The private copy's folder, for a cache read from a copy (removed on close). */
    private readonly copyDir?: string,
  ) {
    this.sql = new Statements(db);
  }

  /**
   * A cache in a folder this process cannot write (a read-only mount, another user's folder): SQLite
   * cannot make there the -shm file it needs to read a WAL database, so the file (and its -wal, if a
   * process left one) is read from a private copy in the temp folder, removed on close. Nothing is
   * ever written back. Throws CacheFileRefused for a file of another schema.
   */
  static openCopy(file: string): ResponseCacheStore {
    const dir = mkdtempSync(join(tmpdir(), 'genbatch-cache-copy-'));
    try {
      const copy = join(dir, basename(file));
      copyFileSync(file, copy);
      if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${copy}-wal`);
      const db = new Database(copy, { fileMustExist: true });
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== SCHEMA_VERSION) {
        db.close();
        throw new CacheFileRefused(
          version > SCHEMA_VERSION ? 'too_new' : 'foreign',
          `${file} cannot be read as a response cache of this genbatch (schema ${version}; this one reads ${SCHEMA_VERSION}).`,
        );
      }
      return new ResponseCacheStore(db, dir);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * Opens (creating when missing) the cache file. Throws SQLite's own error for a file that is not a
   * database or is damaged (SQLITE_NOTADB, SQLITE_CORRUPT), and CacheFileRefused for a newer or foreign one.
   */
  static open(file: string): ResponseCacheStore {
    const db = new Database(file, { timeout: 5000 });
    try {
      // Set before the first table exists: pages freed by eviction and clear go back to the disk (incremental_vacuum).
      db.pragma('auto_vacuum = INCREMENTAL');
      db.pragma('journal_mode = WAL');
      // Losing the last entries to a power cut costs a call each; an fsync per store would cost every run.
      db.pragma('synchronous = NORMAL');
      db.transaction(() => {
        const version = db.pragma('user_version', { simple: true }) as number;
        if (version === SCHEMA_VERSION) return;
        const tables = db.prepare(USER_TABLES).pluck().all() as string[];
        if (version > SCHEMA_VERSION)
          throw new CacheFileRefused('too_new', `${file} is a response cache of a newer genbatch (schema ${version}; this one reads ${SCHEMA_VERSION}).`);
        if (version === 0 && tables.length > 0)
          throw new CacheFileRefused(
            'foreign',
            `${file} is not a genbatch response cache: it is a SQLite database with other tables (${tables.slice(0, 5).join(', ')}).`,
          );
        // An older genbatch's cache is started afresh: every entry can be paid for again, and old keys would not match anyway.
        for (const table of tables) db.exec(dropTableSql(table));
        db.exec(CACHE_SCHEMA);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    } catch (error) {
      db.close();
      throw error;
    }
    return new ResponseCacheStore(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
    if (this.copyDir !== undefined) rmSync(this.copyDir, { recursive: true, force: true });
  }

  /** Runs `fn` in one write transaction (taken at once, so that two processes never both read then write). */
  transaction<T>(fn: () => T): T {
    // Inside a transaction already (a batch of stores): no savepoint per entry. A throw still undoes
    // the whole batch, as the savepoint's would have once it reached the batch.
    return this.db.inTransaction ? fn() : this.db.transaction(fn).immediate();
  }

  /** The entry of a key, with the blobs it refers to. */
  entry(key: string): CacheEntryRow | undefined {
    const row = this.sql.get(GET_ENTRY).get(key) as { id: number; result: string; vectors: Buffer | null } | undefined;
    if (!row) return undefined;
    const blobs = this.sql.get(ENTRY_BLOBS).pluck().all(row.id) as string[];
    return { result: row.result, vectors: row.vectors ?? undefined, blobs };
  }

  /** Which of `keys` have an entry; reads only (no use recorded), a page of keys per statement. */
  presentKeys(keys: readonly string[]): Set<string> {
    const found = new Set<string>();
    const statement = this.sql.get(PRESENT_KEYS).pluck();
    for (let i = 0; i < keys.length; i += KEYS_PER_LOOKUP) {
      for (const key of statement.all(JSON.stringify(keys.slice(i, i + KEYS_PER_LOOKUP))) as string[]) found.add(key);
    }
    return found;
  }

  /** An entry used at `now` (inside a batch's transaction). */
  touch(key: string, now: number): void {
    this.sql.get(TOUCH_ENTRY).run(now, key);
  }

  /** Lookups answered and not answered since the last batch. */
  count(hits: number, misses: number): void {
    if (hits > 0 || misses > 0) this.sql.get(COUNT_LOOKUPS).run(hits, misses);
  }

  /**
   * Stores an entry in place of any earlier one of its key, with the blobs it refers to (known blobs
   * are kept as they are). Returns the blobs of the earlier entry that nothing refers to any more.
   */
  putEntry(
    entry: CacheEntryData & { key: string; model: string; task: string; bytes: number; now: number },
    blobs: readonly { sha: string; bytes: number }[],
  ): string[] {
    return this.transaction(() => {
      const replaced = this.removeEntry(entry.key);
      const id = Number(
        this.sql.get(INSERT_ENTRY).run(entry.key, entry.model, entry.task, entry.result, entry.vectors ?? null, entry.bytes, entry.now, entry.now)
          .lastInsertRowid,
      );
      for (const blob of blobs) {
        this.sql.get(ADD_BLOB).run(blob.sha, blob.bytes);
        this.sql.get(LINK_BLOB).run(id, blob.sha);
      }
      return replaced.orphans.filter((sha) => !blobs.some((b) => b.sha === sha));
    });
  }

  /** Removes the entry of a key; its blobs that no other entry refers to are removed too (returned: their files are to delete). */
  removeEntry(key: string): CacheRemoval {
    return this.transaction(() => {
      const id = this.sql.get(ENTRY_ID).pluck().get(key) as number | undefined;
      if (id === undefined) return { entries: 0, orphans: [] };
      const shas = this.sql.get(ENTRY_BLOBS).pluck().all(id) as string[];
      this.sql.get(DELETE_ENTRY).run(id);
      return { entries: 1, orphans: this.dropUnreferenced(shas) };
    });
  }

  /** A blob whose file is gone or damaged: it and every entry referring to it are removed. */
  removeBlob(sha: string): CacheRemoval {
    return this.transaction(() => {
      const keys = this.sql.get(ENTRIES_USING_BLOB).pluck().all(sha) as string[];
      const orphans = new Set<string>();
      for (const key of keys) for (const other of this.removeEntry(key).orphans) orphans.add(other);
      this.sql.get(DELETE_BLOB).run(sha);
      orphans.add(sha);
      return { entries: keys.length, orphans: [...orphans] };
    });
  }

  private dropUnreferenced(shas: readonly string[]): string[] {
    return shas.filter((sha) => {
      if (this.sql.get(BLOB_IN_USE).get(sha) !== undefined) return false;
      this.sql.get(DELETE_BLOB).run(sha);
      return true;
    });
  }

  /** Keys of the least recently used entries, oldest first. */
  leastRecentlyUsed(limit: number): string[] {
    return this.sql.get(LEAST_RECENTLY_USED).pluck().all(limit) as string[];
  }

  /** Keys of the entries not used since `before` (epoch ms). */
  unusedSince(before: number): string[] {
    return this.sql.get(UNUSED_SINCE).pluck().all(before) as string[];
  }

  /** What the cap applies to: the entries' rows and the blob files. */
  bytesUsed(): number {
    return this.sql.get(BYTES_USED).pluck().get() as number;
  }

  totals(): CacheTotals {
    const row = this.sql.get(TOTALS).get() as {
      entries: number;
      entry_bytes: number;
      blobs: number;
      blob_bytes: number;
      hits: number;
      misses: number;
    };
    const oldest = this.sql.get(OLDEST_USE).pluck().get() as number | null;
    return {
      entries: row.entries,
      entryBytes: row.entry_bytes,
      blobs: row.blobs,
      blobBytes: row.blob_bytes,
      hits: row.hits,
      misses: row.misses,
      oldestUsedAt: oldest ?? undefined,
    };
  }

  /** Whether a blob is known (its file may be deleted only when it is not). */
  hasBlob(sha: string): boolean {
    return this.sql.get(HAS_BLOB).get(sha) !== undefined;
  }

  /** Empties the cache, counters included; returns what was in it. */
  clear(): CacheTotals {
    return this.transaction(() => {
      const before = this.totals();
      this.sql.get(CLEAR_ENTRIES).run();
      this.sql.get(CLEAR_BLOBS).run();
      this.sql.get(CLEAR_ENTRY_BLOBS).run();
      this.sql.get(CLEAR_TOTALS).run();
      return before;
    });
  }

  /** Gives the pages freed by removals back to the file system (the file shrinks). */
  reclaimSpace(): void {
    this.db.pragma('incremental_vacuum');
  }
}
