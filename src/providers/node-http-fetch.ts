import http from 'node:http';
import https from 'node:https';
import { gunzip, gunzipSync, inflate, inflateSync } from 'node:zlib';
import { promisify } from 'node:util';

/**
 * The `fetch` genbatch gives @google/genai (its documented `httpOptions.fetch`): one request over
 * node:http(s) with keep-alive agents, the body read whole, answered as a `Response` (see BufferedResponse). The
 * SDK still builds every request and reads every reply; only the HTTP client changes.
 *
 * Why: Node's global fetch (undici) runs each call through WHATWG streams, Request and abort
 * plumbing that cost some 0.3 ms of the main thread per call. At hundreds of calls a second that
 * was a third of a run's CPU (3,000 calls against the zero-latency emulator: 2.7 s with the global
 * fetch, 1.8 s with this one, for the same SDK calls).
 *
 * It behaves as the global fetch does where the engine looks: connection failures reject with
 * `TypeError('fetch failed')` whose cause carries the socket's code, a reply cut short with
 * `TypeError('terminated')`, an aborted signal with an AbortError. Anything it does not handle (a
 * Request object, a streamed body) goes to the global fetch. `GENBATCH_HTTP_CLIENT=fetch` uses the
 * global fetch for everything (see docs/concepts.md).
 */

/**
 * Idle keep-alive connections are closed after this long, or a second before the server's own
 * `Keep-Alive: timeout=` (as undici does): reusing one the server is closing would fail the call.
 * Calls in progress are not affected (the agent closes only idle sockets on timeout).
 */
const IDLE_SOCKET_MS = 4000;
/** Compressed replies up to this size are inflated on the main thread; larger ones in the thread pool. */
const INFLATE_SYNC_BYTES = 64 * 1024;

const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  'https:': new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
};

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

/** Statuses whose `Response` must have no body. */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

function headerRecord(headers: RequestInit['headers']): Record<string, string> {
  const record: Record<string, string> = {};
  if (headers === undefined) return record;
  if (headers instanceof Headers) headers.forEach((value, name) => (record[name] = value));
  else if (Array.isArray(headers)) for (const [name = '', value = ''] of headers) record[name.toLowerCase()] = value;
  else for (const [name, value] of Object.entries(headers as Record<string, string>)) record[name.toLowerCase()] = value;
  return record;
}

async function decoded(body: Buffer, encoding: string | undefined): Promise<Buffer> {
  if (body.length === 0) return body;
  const small = body.length <= INFLATE_SYNC_BYTES;
  if (encoding === 'gzip' || encoding === 'x-gzip') return small ? gunzipSync(body) : gunzipAsync(body);
  if (encoding === 'deflate') return small ? inflateSync(body) : inflateAsync(body);
  return body;
}

/**
 * A reply read whole, with the members of `Response` the SDK uses (status, headers, json, text,
 * arrayBuffer). A standard `Response` wraps its body in a web stream, which cost some 40 µs per
 * call more than the parse; anything stream-shaped (body, blob, clone...) is served by a real
 * `Response` made on demand.
 */
class BufferedResponse {
  readonly ok: boolean;
  readonly redirected = false;
  readonly type = 'basic';
  bodyUsed = false;
  private standard: Response | undefined;

  constructor(
    readonly status: number,
    readonly statusText: string,
    readonly headers: Headers,
    readonly url: string,
    private readonly data: Buffer | null,
  ) {
    this.ok = status >= 200 && status <= 299;
  }

  private consume(): Buffer {
    if (this.bodyUsed) throw new TypeError('Body is unusable: Body has already been read');
    this.bodyUsed = true;
    return this.data ?? Buffer.alloc(0);
  }

  async text(): Promise<string> {
    return this.consume().toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.consume().toString('utf8')) as unknown;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const data = this.consume();
    return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.arrayBuffer());
  }

  /** The same reply as a standard `Response`, for what only one does (its body stream, blob, clone). */
  private asStandard(): Response {
    if (!this.standard) {
      const body = this.bodyUsed ? null : this.data;
      // (A status without a body already has no data.)
      this.standard = new Response(body, {
        status: this.status,
        statusText: this.statusText,
        headers: this.headers,
      });
    }
    return this.standard;
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.asStandard().body;
  }

  blob(): Promise<Blob> {
    // The standard Response is made while the data is still unread (made after, it would have none).
    const standard = this.asStandard();
    if (this.bodyUsed) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
    this.bodyUsed = true;
    return standard.blob();
  }

  clone(): Response {
    return this.asStandard().clone();
  }
}

function responseOf(url: URL, status: number, statusText: string, rawHeaders: string[], body: Buffer): Response {
  const headers = new Headers();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    try {
      headers.append(rawHeaders[i] as string, rawHeaders[i + 1] as string);
    } catch {
      // A header value fetch would not accept either: left out.
    }
  }
  if (status < 200 || status > 599) throw new RangeError(`HTTP status ${status} is not one a fetch reply can have`);
  return new BufferedResponse(status, statusText, headers, url.href, NULL_BODY_STATUS.has(status) ? null : body) as unknown as Response;
}

/** A fetch over node:http(s) for the SDK's calls (see above). */
export function nodeHttpFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const body = init.body;
  const plainBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
  const url = typeof input === 'string' ? new URL(input) : input instanceof URL ? input : undefined;
  const agent = url ? agents[url.protocol as keyof typeof agents] : undefined;
  if (!url || !agent || !plainBody) return fetch(input, init);

  const headers = headerRecord(init.headers);
  headers['accept-encoding'] ??= 'gzip, deflate';
  // Always a length, as fetch sends: node:http would send a DELETE's body unframed (no chunking for
  // DELETE), and the server would read it as the next request.
  if (body !== undefined && body !== null) headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  const signal = init.signal ?? undefined;
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise<Response>((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers, agent, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let complete = false;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        complete = true;
        const raw = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        decoded(raw, res.headers['content-encoding'])
          .then((data) => resolve(responseOf(url, res.statusCode ?? 0, res.statusMessage ?? '', res.rawHeaders, data)))
          .catch((error: unknown) => reject(new TypeError('terminated', { cause: error })));
      });
      // The reply was cut short (connection lost, or the signal aborted while it was read).
      res.on('close', () => {
        if (complete) return;
        reject(signal?.aborted ? abortError(signal) : new TypeError('terminated', { cause: new Error('the connection closed before the reply ended') }));
      });
    });
    req.on('error', (error: Error) => reject(error.name === 'AbortError' ? error : new TypeError('fetch failed', { cause: error })));
    req.end(body ?? undefined);
  });
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('This operation was aborted', { cause: signal.reason }), { name: 'AbortError' });
}
