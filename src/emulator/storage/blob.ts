import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Crc32c } from './crc32c.js';

/**
 * The bytes of one stored object, written once and then only read. Small objects stay in memory;
 * a big one (a 1 GB batch input) is spilled to a temporary file as it arrives, so the emulator holds
 * one copy of it at most and streams it back out.
 */
export interface Blob {
  readonly size: number;
  /** Base64 MD5, as in `md5Hash`. */
  readonly md5: string;
  /** Base64 CRC32C, as in `crc32c`. */
  readonly crc32c: string;
  /** The bytes from `start` to `end` (inclusive), or all of them. */
  stream(start?: number, end?: number): Readable;
  /** Frees the bytes (removes the spill file). Streams already open keep reading. */
  dispose(): Promise<void>;
}

/** Where spill files go: a folder created on first use (see ObjectStore). */
export interface SpillDir {
  path(): Promise<string>;
}

/** Objects above this size are written to a file instead of memory. */
export const SPILL_BYTES = 8 * 1024 * 1024;

let spillCounter = 0;

export class BlobWriter {
  private chunks: Buffer[] = [];
  private file: { path: string; handle: FileHandle } | undefined;
  private size = 0;
  private readonly md5: Hash = createHash('md5');
  private readonly crc = new Crc32c();
  private done = false;

  constructor(
    private readonly spill: SpillDir,
    private readonly spillBytes = SPILL_BYTES,
  ) {}

  get written(): number {
    return this.size;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.done) throw new Error('BlobWriter: write after finish');
    if (chunk.length === 0) return;
    this.size += chunk.length;
    this.md5.update(chunk);
    this.crc.update(chunk);
    if (this.file) {
      await this.file.handle.write(chunk);
      return;
    }
    this.chunks.push(chunk);
    if (this.size > this.spillBytes) {
      const path = join(await this.spill.path(), `blob-${process.pid}-${++spillCounter}`);
      const handle = await open(path, 'w');
      this.file = { path, handle };
      for (const buffered of this.chunks) await handle.write(buffered);
      this.chunks = [];
    }
  }

  /** Seals the bytes written so far into a Blob. */
  async finish(): Promise<Blob> {
    this.done = true;
    const meta = { size: this.size, md5: this.md5.digest('base64'), crc32c: this.crc.digest() };
    if (this.file) {
      await this.file.handle.close();
      return fileBlob(this.file.path, meta);
    }
    return memoryBlob(this.chunks, meta);
  }

  /** Drops what was written (an upload that failed or was abandoned). */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.chunks = [];
    if (this.file) {
      await this.file.handle.close().catch(() => undefined);
      await unlink(this.file.path).catch(() => undefined);
    }
  }
}

type BlobMeta = Pick<Blob, 'size' | 'md5' | 'crc32c'>;

function memoryBlob(chunks: Buffer[], meta: BlobMeta): Blob {
  let held: Buffer[] | undefined = chunks;
  return {
    ...meta,
    stream(start = 0, end = meta.size - 1) {
      // As reading a spilled file that was removed fails: a batch job whose input was deleted fails.
      if (!held)
        return new Readable({
          read() {
            this.destroy(new Error('the object was deleted'));
          },
        });
      const source: Buffer[] = held;
      // Slices share memory with the stored chunks: no copy per reader.
      function* slices(): Generator<Buffer> {
        let offset = 0;
        for (const chunk of source) {
          const from = Math.max(start - offset, 0);
          const to = Math.min(end + 1 - offset, chunk.length);
          if (from < to) yield chunk.subarray(from, to);
          offset += chunk.length;
          if (offset > end) return;
        }
      }
      return Readable.from(slices(), { objectMode: false });
    },
    dispose() {
      held = undefined;
      return Promise.resolve();
    },
  };
}

function fileBlob(path: string, meta: BlobMeta): Blob {
  return {
    ...meta,
    stream(start = 0, end = meta.size - 1) {
      if (meta.size === 0 || end < start) return Readable.from([]);
      return createReadStream(path, { start, end });
    },
    dispose: () => unlink(path).catch(() => undefined),
  };
}
