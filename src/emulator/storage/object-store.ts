import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobWriter, type Blob, type SpillDir } from './blob.js';
import { noSuchObject, preconditionFailed } from './gcs-error.js';

/**
 * The emulator's Cloud Storage: buckets exist as soon as they are named, objects live in memory
 * (big ones in a temporary folder, removed on close). Shared by the storage routes and batch jobs.
 */
export interface StoredObject {
  bucket: string;
  name: string;
  blob: Blob;
  contentType: string;
  /** Microseconds since the epoch, unique per write, as GCS generations are. */
  generation: string;
  created: number;
  metadata: Record<string, string> | undefined;
}

export interface PutOptions {
  contentType?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /** GCS precondition: the live generation must be this one ("0": the object must not exist). */
  ifGenerationMatch?: string | undefined;
}

export interface ListOptions {
  prefix?: string | undefined;
  delimiter?: string | undefined;
  startOffset?: string | undefined;
  endOffset?: string | undefined;
}

export type ListEntry = { kind: 'object'; object: StoredObject } | { kind: 'prefix'; prefix: string };

export class ObjectStore implements SpillDir {
  private readonly buckets = new Map<string, Map<string, StoredObject>>();
  private dir: Promise<string> | undefined;
  private lastGeneration = 0;

  /** The spill folder, created the first time a big object arrives. */
  path(): Promise<string> {
    this.dir ??= mkdtemp(join(tmpdir(), `genbatch-emulator-gcs-${process.pid}-`));
    return this.dir;
  }

  writer(): BlobWriter {
    return new BlobWriter(this);
  }

  get(bucket: string, name: string): StoredObject | undefined {
    return this.buckets.get(bucket)?.get(name);
  }

  /** The object, or GCS's 404. */
  require(bucket: string, name: string): StoredObject {
    const object = this.get(bucket, name);
    if (!object) throw noSuchObject(bucket, name);
    return object;
  }

  /** Stores a finished blob under a name, replacing (and freeing) the object there before. */
  put(bucket: string, name: string, blob: Blob, options: PutOptions = {}): StoredObject {
    const previous = this.get(bucket, name);
    if (!matches(previous, options.ifGenerationMatch)) {
      void blob.dispose();
      throw preconditionFailed();
    }
    const now = Date.now();
    this.lastGeneration = Math.max(this.lastGeneration + 1, now * 1000);
    const object: StoredObject = {
      bucket,
      name,
      blob,
      contentType: options.contentType || 'application/octet-stream',
      generation: String(this.lastGeneration),
      created: now,
      metadata: options.metadata,
    };
    let objects = this.buckets.get(bucket);
    if (!objects) {
      objects = new Map();
      this.buckets.set(bucket, objects);
    }
    objects.set(name, object);
    if (previous) void previous.blob.dispose();
    return object;
  }

  delete(bucket: string, name: string, ifGenerationMatch?: string): void {
    const object = this.require(bucket, name);
    if (!matches(object, ifGenerationMatch)) throw preconditionFailed();
    this.buckets.get(bucket)?.delete(name);
    void object.blob.dispose();
  }

  /** Objects (and, with a delimiter, common prefixes) in name order, as GCS lists them. */
  list(bucket: string, options: ListOptions = {}): ListEntry[] {
    const prefix = options.prefix ?? '';
    const names = [...(this.buckets.get(bucket)?.keys() ?? [])]
      .filter((name) => name.startsWith(prefix))
      .filter((name) => (options.startOffset === undefined || name >= options.startOffset) && (options.endOffset === undefined || name < options.endOffset))
      .sort();
    const entries: ListEntry[] = [];
    const seenPrefixes = new Set<string>();
    for (const name of names) {
      const rest = name.slice(prefix.length);
      const cut = options.delimiter ? rest.indexOf(options.delimiter) : -1;
      if (cut >= 0 && options.delimiter) {
        const common = prefix + rest.slice(0, cut + options.delimiter.length);
        if (!seenPrefixes.has(common)) {
          seenPrefixes.add(common);
          entries.push({ kind: 'prefix', prefix: common });
        }
        continue;
      }
      const object = this.get(bucket, name);
      if (object) entries.push({ kind: 'object', object });
    }
    return entries;
  }

  /** Frees every object and removes the spill folder. */
  async close(): Promise<void> {
    const blobs = [...this.buckets.values()].flatMap((objects) => [...objects.values()].map((o) => o.blob));
    this.buckets.clear();
    await Promise.all(blobs.map((blob) => blob.dispose()));
    if (this.dir) {
      const dir = await this.dir.catch(() => undefined);
      if (dir) await rm(dir, { recursive: true, force: true });
      this.dir = undefined;
    }
  }
}

function matches(object: StoredObject | undefined, ifGenerationMatch: string | undefined): boolean {
  if (ifGenerationMatch === undefined) return true;
  return ifGenerationMatch === '0' ? object === undefined : object?.generation === ifGenerationMatch;
}
