import type { BlobWriter } from './blob.js';
import { badRequest } from './gcs-error.js';

/**
 * `uploadType=multipart`: a `multipart/related` body of two parts, the object's JSON metadata and
 * then its bytes. The metadata part is small and read whole; the bytes are streamed into the writer,
 * holding back only as much as the closing boundary could span.
 */
export interface MultipartUpload {
  metadata: Record<string, unknown>;
  /** Content-Type of the media part. */
  contentType: string | undefined;
}

/** The metadata part and the media part's headers must arrive within this many bytes. */
const MAX_HEAD_BYTES = 1024 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

export function boundaryOf(contentType: string | undefined): string | undefined {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  return match ? (match[1] ?? match[2]) : undefined;
}

function headerValue(headers: string, name: string): string | undefined {
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** Where the media bytes start, once both part headers and the metadata are in `head`. */
function locateParts(head: Buffer, delimiter: Buffer): { metadata: Buffer; mediaHeaders: string; dataStart: number } | undefined {
  const first = head.indexOf(delimiter);
  if (first < 0) return undefined;
  const firstHeadersEnd = head.indexOf(CRLF2, first);
  if (firstHeadersEnd < 0) return undefined;
  const second = head.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), firstHeadersEnd + 4);
  if (second < 0) return undefined;
  const secondHeadersEnd = head.indexOf(CRLF2, second + 2);
  if (secondHeadersEnd < 0) return undefined;
  return {
    metadata: head.subarray(firstHeadersEnd + 4, second),
    mediaHeaders: head.subarray(second + 2 + delimiter.length, secondHeadersEnd).toString('utf8'),
    dataStart: secondHeadersEnd + 4,
  };
}

export async function readMultipartUpload(body: AsyncIterable<Buffer>, boundary: string, writer: BlobWriter): Promise<MultipartUpload> {
  const delimiter = Buffer.from(`--${boundary}`);
  const closing = Buffer.from(`\r\n--${boundary}`);
  // Enough to hold the closing "\r\n--BOUNDARY--\r\n" whole, wherever a chunk ends.
  const keep = closing.length + 4;
  let pending: Buffer = Buffer.alloc(0);
  let parts: ReturnType<typeof locateParts>;
  for await (const chunk of body) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (!parts) {
      parts = locateParts(pending, delimiter);
      if (!parts) {
        if (pending.length > MAX_HEAD_BYTES) throw badRequest('Malformed multipart body: the metadata part was not found in the first 1 MiB.');
        continue;
      }
      pending = pending.subarray(parts.dataStart);
    }
    if (pending.length > keep) {
      await writer.write(pending.subarray(0, pending.length - keep));
      pending = Buffer.from(pending.subarray(pending.length - keep));
    }
  }
  if (!parts) throw badRequest('Malformed multipart body: expected a metadata part and a media part.');
  const end = pending.lastIndexOf(closing);
  if (end < 0) throw badRequest('Malformed multipart body: the closing boundary is missing.');
  await writer.write(pending.subarray(0, end));
  let metadata: unknown;
  try {
    metadata = JSON.parse(parts.metadata.toString('utf8') || '{}');
  } catch {
    throw badRequest('Malformed multipart body: the metadata part is not JSON.');
  }
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw badRequest('The metadata part must be a JSON object.');
  return { metadata: metadata as Record<string, unknown>, contentType: headerValue(parts.mediaHeaders, 'content-type') };
}
