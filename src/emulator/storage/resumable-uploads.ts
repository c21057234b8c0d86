import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { BlobWriter } from './blob.js';
import { badRequest, GcsHttpError } from './gcs-error.js';
import type { StoredObject } from './object-store.js';

/**
 * `uploadType=resumable` sessions: a POST opens one (its URI comes back in `Location`), then PUTs
 * with `Content-Range` send the bytes, in one request or in chunks, and a PUT of `bytes * /N`
 * asks how far it got. This is what `@google-cloud/storage` uses by default (`file.save()`,
 * `createWriteStream()`, `bucket.upload()`), so it is served, not just the simple uploads.
 */
export interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  contentType: string | undefined;
  metadata: Record<string, string> | undefined;
  ifGenerationMatch: string | undefined;
  writer: BlobWriter;
  /** Set once the last byte arrived and the object was stored. */
  finished: StoredObject | undefined;
  /**
   * The PUT streaming into this session, if any. A new PUT supersedes it (the client only sends one
   * after giving up on the last), so a request left hanging can never block the upload.
   */
  inflight: { req: IncomingMessage; settled: Promise<void> } | undefined;
}

/** A parsed `Content-Range` of a PUT: `bytes FIRST-LAST/TOTAL`, with `*` for unknown parts. */
export interface ContentRange {
  /** Undefined for a status query (`bytes * /TOTAL`). */
  first: number | undefined;
  /** Undefined when the request carries the rest of the object (`bytes 0-* /TOTAL`). */
  last: number | undefined;
  total: number | undefined;
}

export function parseContentRange(header: string | undefined): ContentRange | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes\s+(?:\*|(\d+)-(\d+|\*))\/(\d+|\*)$/i.exec(header.trim());
  if (!match) throw badRequest(`Invalid Content-Range header: ${header}`);
  const number = (text: string | undefined): number | undefined => (text === undefined || text === '*' ? undefined : Number(text));
  return { first: number(match[1]), last: number(match[2]), total: number(match[3]) };
}

/** Whether the session is complete after this request, given what has been written in all. */
export function isFinalRequest(range: ContentRange | undefined, written: number): boolean {
  if (!range) return true;
  if (range.total !== undefined) return written >= range.total;
  // Unknown total: a request that ran "to the end" (FIRST-*) carries the rest of the object.
  return range.first !== undefined && range.last === undefined;
}

export class UploadSessions {
  private readonly sessions = new Map<string, UploadSession>();

  open(fields: Omit<UploadSession, 'id' | 'finished' | 'inflight'>): UploadSession {
    const session: UploadSession = { ...fields, id: randomUUID().replaceAll('-', ''), finished: undefined, inflight: undefined };
    this.sessions.set(session.id, session);
    return session;
  }

  require(id: string | null): UploadSession {
    const session = id ? this.sessions.get(id) : undefined;
    if (!session) throw new GcsHttpError(404, 'notFound', `No such upload session: ${id ?? '(missing upload_id)'}`);
    return session;
  }

  /** Drops unfinished uploads (on close). */
  async close(): Promise<void> {
    const open = [...this.sessions.values()].filter((s) => !s.finished);
    this.sessions.clear();
    await Promise.all(open.map((s) => s.writer.abort()));
  }
}
