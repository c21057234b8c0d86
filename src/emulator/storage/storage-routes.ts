import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { BlobWriter } from './blob.js';
import { badRequest, GcsHttpError } from './gcs-error.js';
import { boundaryOf, readMultipartUpload } from './multipart-upload.js';
import type { ObjectStore, StoredObject } from './object-store.js';
import { isFinalRequest, parseContentRange, UploadSessions, type UploadSession } from './resumable-uploads.js';

/**
 * The Cloud Storage JSON API subset that `@google-cloud/storage` (with `apiEndpoint` pointed at the
 * emulator) needs for batch staging: uploads (media, multipart, resumable), listing with a prefix,
 * metadata, downloads (`alt=media`, with Range) and deletes. No authentication is asked for, as the
 * client sends none to a custom endpoint. Buckets exist as soon as they are named.
 */
const STORAGE_PREFIXES = ['/storage/v1/', '/upload/storage/v1/', '/download/storage/v1/'];
const DEFAULT_PAGE = 1000;

export function isStoragePath(pathname: string): boolean {
  return STORAGE_PREFIXES.some((prefix) => pathname.startsWith(prefix)) || pathname === '/storage/v1/b';
}

type Json = Record<string, unknown>;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'content-type': 'application/json; charset=UTF-8' }),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function baseUrl(req: IncomingMessage): string {
  return `http://${req.headers.host ?? '127.0.0.1'}`;
}

function objectResource(object: StoredObject, base: string): Json {
  const encoded = encodeURIComponent(object.name);
  const time = new Date(object.created).toISOString();
  return {
    kind: 'storage#object',
    id: `${object.bucket}/${object.name}/${object.generation}`,
    selfLink: `${base}/storage/v1/b/${object.bucket}/o/${encoded}`,
    mediaLink: `${base}/download/storage/v1/b/${object.bucket}/o/${encoded}?generation=${object.generation}&alt=media`,
    name: object.name,
    bucket: object.bucket,
    generation: object.generation,
    metageneration: '1',
    contentType: object.contentType,
    storageClass: 'STANDARD',
    size: String(object.blob.size),
    md5Hash: object.blob.md5,
    crc32c: object.blob.crc32c,
    etag: Buffer.from(object.generation).toString('base64'),
    timeCreated: time,
    updated: time,
    timeStorageClassUpdated: time,
    timeFinalized: time,
    ...(object.metadata ? { metadata: object.metadata } : {}),
  };
}

function bucketResource(name: string, base: string): Json {
  return {
    kind: 'storage#bucket',
    id: name,
    selfLink: `${base}/storage/v1/b/${name}`,
    name,
    location: 'US',
    locationType: 'multi-region',
    storageClass: 'STANDARD',
    metageneration: '1',
    timeCreated: new Date(0).toISOString(),
    updated: new Date(0).toISOString(),
  };
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, String(v)]));
}

/** `x-goog-hash: crc32c=…,md5=…` sent with an upload must match the bytes received. */
function checkSentHashes(header: string | string[] | undefined, actual: { md5: string; crc32c: string }): void {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (!text) return;
  for (const pair of text.split(',')) {
    const cut = pair.indexOf('=');
    const [kind, value] = [pair.slice(0, cut).trim().toLowerCase(), pair.slice(cut + 1).trim()];
    const calculated = kind === 'md5' ? actual.md5 : kind === 'crc32c' ? actual.crc32c : undefined;
    if (calculated !== undefined && value !== calculated) {
      throw badRequest(`Provided ${kind.toUpperCase()} hash "${value}" doesn't match calculated ${kind.toUpperCase()} hash "${calculated}".`);
    }
  }
}

/** Pages of a listing: the token is the last name (or prefix) already returned. */
function pageToken(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

export class StorageRoutes {
  private readonly sessions = new UploadSessions();

  constructor(private readonly store: ObjectStore) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      await this.route(req, res, url);
    } catch (error) {
      if (error instanceof GcsHttpError) return send(res, error.httpStatus, error.body());
      if (error instanceof URIError) return send(res, 400, badRequest(`Malformed object path: ${url.pathname}`).body());
      const internal = new GcsHttpError(500, 'backendError', `Internal error: ${(error as Error).message}`);
      send(res, 500, internal.body());
    }
  }

  close(): Promise<void> {
    return this.sessions.close();
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const match = /^\/(upload\/|download\/)?storage\/v1\/b(?:\/([^/]+)(\/o(?:\/(.+))?)?)?$/.exec(path);
    if (!match) throw new GcsHttpError(404, 'notFound', `Not Found: ${method} ${path}`);
    const [, kind, rawBucket, objectsPart, rawObject] = match;
    const bucket = rawBucket === undefined ? undefined : decodeURIComponent(rawBucket);
    const object = rawObject === undefined ? undefined : decodeURIComponent(rawObject);
    const base = baseUrl(req);
    const q = url.searchParams;

    if (kind === 'upload/') {
      if (!bucket || objectsPart !== '/o') throw new GcsHttpError(404, 'notFound', `Not Found: ${method} ${path}`);
      if (method === 'POST') return this.upload(req, res, bucket, q, base);
      if (method === 'PUT') return this.resume(req, res, this.sessions.require(q.get('upload_id')), base);
      throw new GcsHttpError(405, 'methodNotAllowed', `Method ${method} is not allowed on uploads.`);
    }
    if (kind === 'download/') {
      if (!bucket || object === undefined || method !== 'GET') throw new GcsHttpError(404, 'notFound', `Not Found: ${method} ${path}`);
      return this.download(req, res, this.store.require(bucket, object));
    }
    if (bucket === undefined) {
      // POST /storage/v1/b: buckets need no creating here, but creating one succeeds.
      if (method !== 'POST') throw new GcsHttpError(404, 'notFound', `Not Found: ${method} ${path}`);
      const body = await readJsonBody(req);
      const name = typeof body.name === 'string' ? body.name : '';
      if (!name) throw badRequest('Bucket name is required.');
      return send(res, 200, bucketResource(name, base));
    }
    if (objectsPart === undefined) {
      if (method !== 'GET') throw new GcsHttpError(405, 'methodNotAllowed', `Method ${method} is not allowed on buckets here.`);
      return send(res, 200, bucketResource(bucket, base));
    }
    if (object === undefined) {
      if (method !== 'GET') throw new GcsHttpError(405, 'methodNotAllowed', `Method ${method} is not allowed on object lists.`);
      return this.list(res, bucket, q, base);
    }
    if (method === 'GET') {
      const stored = this.store.require(bucket, object);
      if (q.get('alt') === 'media') return this.download(req, res, stored);
      return send(res, 200, objectResource(stored, base));
    }
    if (method === 'DELETE') {
      this.store.delete(bucket, object, q.get('ifGenerationMatch') ?? undefined);
      return send(res, 204, undefined);
    }
    throw new GcsHttpError(405, 'methodNotAllowed', `Method ${method} is not allowed on objects here.`);
  }

  private list(res: ServerResponse, bucket: string, q: URLSearchParams, base: string): void {
    const entries = this.store.list(bucket, {
      prefix: q.get('prefix') ?? undefined,
      delimiter: q.get('delimiter') || undefined,
      startOffset: q.get('startOffset') ?? undefined,
      endOffset: q.get('endOffset') ?? undefined,
    });
    const max = Math.max(1, Math.min(Number(q.get('maxResults')) || DEFAULT_PAGE, DEFAULT_PAGE));
    const after = q.get('pageToken') ? Buffer.from(q.get('pageToken') ?? '', 'base64url').toString('utf8') : undefined;
    const keyOf = (e: (typeof entries)[number]): string => (e.kind === 'object' ? e.object.name : e.prefix);
    const remaining = after === undefined ? entries : entries.filter((e) => keyOf(e) > after);
    const page = remaining.slice(0, max);
    const items = page.flatMap((e) => (e.kind === 'object' ? [objectResource(e.object, base)] : []));
    const prefixes = page.flatMap((e) => (e.kind === 'prefix' ? [e.prefix] : []));
    const last = page[page.length - 1];
    send(res, 200, {
      kind: 'storage#objects',
      // As GCS: empty lists are left out.
      ...(items.length > 0 ? { items } : {}),
      ...(prefixes.length > 0 ? { prefixes } : {}),
      ...(remaining.length > max && last ? { nextPageToken: pageToken(keyOf(last)) } : {}),
    });
  }

  private async download(req: IncomingMessage, res: ServerResponse, object: StoredObject): Promise<void> {
    const size = object.blob.size;
    const headers: Record<string, string> = {
      'content-type': object.contentType,
      'x-goog-hash': `crc32c=${object.blob.crc32c},md5=${object.blob.md5}`,
      'x-goog-generation': object.generation,
      'x-goog-metageneration': '1',
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-stored-content-length': String(size),
      'accept-ranges': 'bytes',
      etag: Buffer.from(object.generation).toString('base64'),
    };
    let [start, end, status] = [0, size - 1, 200];
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? '').trim());
    if (range && (range[1] || range[2]) && size > 0) {
      if (range[1]) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      } else {
        start = Math.max(0, size - Number(range[2]));
      }
      if (start >= size && size > 0) {
        send(res, 416, new GcsHttpError(416, 'requestedRangeNotSatisfiable', 'The requested range cannot be satisfied.').body(), {
          'content-range': `bytes */${size}`,
        });
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['content-length'] = String(Math.max(0, end - start + 1));
    res.writeHead(status, headers);
    if (end < start) return void res.end();
    // A reader that goes away mid-download is not an error of the emulator's.
    await pipeline(object.blob.stream(start, end), res).catch(() => undefined);
  }

  private async upload(req: IncomingMessage, res: ServerResponse, bucket: string, q: URLSearchParams, base: string): Promise<void> {
    const uploadType = q.get('uploadType') ?? 'media';
    const ifGenerationMatch = q.get('ifGenerationMatch') ?? undefined;
    if (uploadType === 'resumable') {
      const body = await readJsonBody(req);
      const name = q.get('name') ?? (typeof body.name === 'string' ? body.name : '');
      if (!name) throw badRequest('Required parameter: name');
      const headerType = req.headers['x-upload-content-type'];
      const session = this.sessions.open({
        bucket,
        name,
        contentType: typeof body.contentType === 'string' ? body.contentType : typeof headerType === 'string' ? headerType : undefined,
        metadata: stringMap(body.metadata),
        ifGenerationMatch,
        writer: this.store.writer(),
      });
      const location = `${base}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${session.id}`;
      return send(res, 200, undefined, { location, 'x-guploader-uploadid': session.id });
    }
    const writer = this.store.writer();
    try {
      if (uploadType === 'media') {
        const name = q.get('name');
        if (!name) throw badRequest('Required parameter: name');
        for await (const chunk of req as AsyncIterable<Buffer>) await writer.write(chunk);
        const contentType = req.headers['content-type'];
        return send(res, 200, objectResource(await this.finish(writer, { bucket, name, contentType, metadata: undefined, ifGenerationMatch }, req), base));
      }
      if (uploadType === 'multipart') {
        const boundary = boundaryOf(req.headers['content-type']);
        if (!boundary) throw badRequest('uploadType=multipart needs a multipart/related body with a boundary.');
        const parts = await readMultipartUpload(req as AsyncIterable<Buffer>, boundary, writer);
        const name = q.get('name') ?? (typeof parts.metadata.name === 'string' ? parts.metadata.name : '');
        if (!name) throw badRequest('Required parameter: name');
        const contentType = typeof parts.metadata.contentType === 'string' ? parts.metadata.contentType : parts.contentType;
        const fields = { bucket, name, contentType, metadata: stringMap(parts.metadata.metadata), ifGenerationMatch };
        return send(res, 200, objectResource(await this.finish(writer, fields, req), base));
      }
      throw badRequest(`Unsupported uploadType "${uploadType}": use media, multipart or resumable.`);
    } catch (error) {
      await writer.abort();
      throw error;
    }
  }

  /** A PUT to a resumable session: more bytes, or a status query. */
  private async resume(req: IncomingMessage, res: ServerResponse, session: UploadSession, base: string): Promise<void> {
    if (session.inflight) {
      session.inflight.req.destroy();
      await session.inflight.settled;
    }
    let settle = (): void => undefined;
    session.inflight = { req, settled: new Promise<void>((resolve) => (settle = resolve)) };
    try {
      await this.receive(req, res, session, base);
    } finally {
      if (session.inflight?.req === req) session.inflight = undefined;
      settle();
    }
  }

  private async receive(req: IncomingMessage, res: ServerResponse, session: UploadSession, base: string): Promise<void> {
    if (session.finished) {
      for await (const _ of req as AsyncIterable<Buffer>) void _;
      return send(res, 200, objectResource(session.finished, base));
    }
    const range = parseContentRange(typeof req.headers['content-range'] === 'string' ? req.headers['content-range'] : undefined);
    let skip = 0;
    if (range?.first !== undefined) {
      if (range.first > session.writer.written) throw badRequest(`Invalid request: the upload is at byte ${session.writer.written}, not ${range.first}.`);
      // The client resent bytes the session already has: take only the new ones.
      skip = session.writer.written - range.first;
    }
    for await (const chunk of req as AsyncIterable<Buffer>) {
      // A status query (bytes */TOTAL) carries no bytes.
      if (range !== undefined && range.first === undefined) continue;
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      await session.writer.write(skip > 0 ? chunk.subarray(skip) : chunk);
      skip = 0;
    }
    if (!isFinalRequest(range, session.writer.written)) {
      const written = session.writer.written;
      return send(res, 308, undefined, written > 0 ? { range: `bytes=0-${written - 1}` } : {});
    }
    if (range?.total !== undefined && session.writer.written !== range.total) {
      throw badRequest(`Upload size mismatch: received ${session.writer.written} bytes, expected ${range.total}.`);
    }
    session.finished = await this.finish(session.writer, session, req);
    send(res, 200, objectResource(session.finished, base));
  }

  private async finish(
    writer: BlobWriter,
    fields: Pick<UploadSession, 'bucket' | 'name' | 'metadata' | 'ifGenerationMatch'> & { contentType: string | undefined },
    req: IncomingMessage,
  ): Promise<StoredObject> {
    const blob = await writer.finish();
    try {
      checkSentHashes(req.headers['x-goog-hash'], blob);
    } catch (error) {
      await blob.dispose();
      throw error;
    }
    return this.store.put(fields.bucket, fields.name, blob, fields);
  }
}

async function readJsonBody(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1024 * 1024) throw badRequest('Metadata body too large.');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Json;
  } catch {
    // fall through
  }
  throw badRequest('Invalid JSON payload received.');
}
