import { STATUS_CODES } from 'node:http';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import type * as UndiciModule from 'undici';
import type { Dispatcher, EnvHttpProxyAgent } from 'undici';

/**
 * The `fetch` genbatch gives @google/genai (its documented `httpOptions.fetch`), made with undici's
 * `request` over one shared agent. The SDK still builds every request and reads every reply; only
 * the HTTP client changes.
 *
 * - Proxies: undici's EnvHttpProxyAgent honours HTTPS_PROXY, HTTP_PROXY and NO_PROXY (and their
 *   lower-case forms), read when the first call is made (NO_PROXY at each call).
 * - Redirects are followed (by undici's fetch, see below).
 * - Replies are asked for uncompressed (`accept-encoding: identity`): Vertex's replies are a few KB
 *   of JSON (images come base64, which hardly compresses), and undici's decompress interceptor is
 *   still experimental (it warns on every run). A server that compresses all the same is read too.
 * - No header or body timeout of undici's own (as the SDK sets on the global fetch's dispatcher):
 *   the engine bounds each call with its abort signal.
 *
 * Why not undici's `fetch`: it runs each reply through web streams and its Request plumbing, some
 * 0.3 ms of the main thread per call, a third of a run's CPU at hundreds of calls a second. Here the
 * reply is read whole and handed over as a standard `Response` (ReadResponse, below, whose json()
 * and text() read the bytes without a web stream). Anything this path does not take (a Request object, a streamed body) goes to undici's `fetch` over the same
 * agent, so through the same proxy.
 *
 * undici is loaded with the first call: a command that makes none (status, validate, --version)
 * does not pay for loading it.
 *
 * Failures look as the global fetch's do where the engine looks: no reply (connection refused, the
 * proxy unreachable) rejects with `TypeError('fetch failed')` whose cause carries the socket's code,
 * a reply cut short with `TypeError('terminated')`, an aborted signal with an AbortError.
 */

/** The redirect statuses undici's fetch follows. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Statuses whose `Response` must have no body. */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
/** The content codings a reply may still come in, and how each is read. */
const DECODERS: Record<string, (data: Buffer) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

type Undici = typeof UndiciModule;
let undici: Promise<Undici> | undefined;
const loadUndici = (): Promise<Undici> => (undici ??= import('undici'));

/**
 * An agent for calls to Vertex AI and webhooks: keep-alive connections, through the proxy the
 * environment names (see above). `options` add to or override the environment (tests).
 */
export async function proxyAwareAgent(options: EnvHttpProxyAgent.Options = {}): Promise<Dispatcher> {
  const { EnvHttpProxyAgent: Agent } = await loadUndici();
  return withoutWarning('UNDICI-EHPA', () => new Agent({ headersTimeout: 0, bodyTimeout: 0, ...options }));
}

/**
 * Runs `make` without the process warning of one code. undici 6 calls its EnvHttpProxyAgent
 * experimental, on stderr, in every run; it is what undici 7 ships as stable, and its warning
 * would only be noise in a user's terminal and logs.
 */
function withoutWarning<T>(code: string, make: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const first = rest[0];
    const given = typeof first === 'object' && first !== null ? (first as { code?: string }).code : rest[1];
    if (given === code) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return make();
  } finally {
    process.emitWarning = emitWarning;
  }
}

function headerRecord(headers: RequestInit['headers']): Record<string, string> {
  const record: Record<string, string> = {};
  if (headers === undefined) return record;
  if (headers instanceof Headers) headers.forEach((value, name) => (record[name] = value));
  else if (Array.isArray(headers)) for (const [name = '', value = ''] of headers) record[name.toLowerCase()] = value;
  else for (const [name, value] of Object.entries(headers as Record<string, string>)) record[name.toLowerCase()] = value;
  return record;
}

/** The reply's bytes, decoded from a content coding the server used though none was asked for. */
async function decoded(data: ArrayBuffer, headers: Headers): Promise<ArrayBuffer> {
  const coding = headers.get('content-encoding')?.trim().toLowerCase();
  if (!coding || coding === 'identity' || data.byteLength === 0) return data;
  const decode = DECODERS[coding];
  if (!decode) throw new Error(`the reply came in a content coding genbatch cannot read: ${coding}`);
  const plain = await decode(Buffer.from(data));
  headers.delete('content-encoding');
  headers.delete('content-length');
  return plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.byteLength) as ArrayBuffer;
}

function responseHeaders(headers: Record<string, string | string[] | undefined>): Headers {
  const result = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    try {
      if (Array.isArray(value)) for (const one of value) result.append(name, one);
      else if (value !== undefined) result.append(name, value);
    } catch {
      // A header value fetch would not accept either: left out.
    }
  }
  return result;
}

/** What the global fetch rejects with for `error` (see above). */
function fetchError(error: unknown, signal: AbortSignal | undefined, message: 'fetch failed' | 'terminated'): unknown {
  // An AbortError whatever the signal's reason (kept as its cause), which is how the engine tells a
  // timeout or a cancel from a failure.
  if (signal?.aborted) return Object.assign(new Error('This operation was aborted', { cause: signal.reason as unknown }), { name: 'AbortError' });
  return new TypeError(message, { cause: error });
}

/** Response as a class to extend: the DOM types declare its body methods as fields, which a subclass may not define as methods. */
type StandardResponse = new (body: null, init: ResponseInit) => Pick<Response, 'headers' | 'status' | 'statusText' | 'ok'>;

/**
 * A standard Response whose body was read whole already. `json()`, `text()` and `arrayBuffer()`
 * take the bytes at once; a Response made from the bytes would hand them through a web stream
 * first (a ReadableStream, its reader and a read per chunk: at c=64 about a twentieth of a run's
 * CPU). Anything else of the body (`body`, `clone()`, `blob()`, `formData()`) is the standard
 * Response's own, made from the bytes when first asked for; from then on every read goes through it.
 */
class ReadResponse extends (Response as StandardResponse) {
  #bytes: Uint8Array;
  #init: ResponseInit;
  #used = false;
  #standard: Response | undefined;

  constructor(bytes: Uint8Array, init: ResponseInit) {
    super(null, init);
    this.#bytes = bytes;
    this.#init = init;
  }

  /** The standard Response over the same bytes (its stream and clone), made once and then used for every read. */
  standard(): Response {
    if (this.#standard === undefined) {
      this.#standard = new Response(this.#bytes, this.#init);
      // Already read here: the standard one says so too.
      if (this.#used) void this.#standard.arrayBuffer();
    }
    return this.#standard;
  }

  #take(): Uint8Array | undefined {
    if (this.#standard !== undefined) return undefined;
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#bytes;
  }

  text(): Promise<string> {
    try {
      const bytes = this.#take();
      return bytes === undefined ? this.standard().text() : Promise.resolve(utf8(bytes));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  json(): Promise<unknown> {
    try {
      const bytes = this.#take();
      return bytes === undefined ? this.standard().json() : Promise.resolve(JSON.parse(utf8(bytes)) as unknown);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    try {
      const bytes = this.#take();
      return bytes === undefined ? this.standard().arrayBuffer() : Promise.resolve(copy(bytes));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  blob(): Promise<Blob> {
    return this.standard().blob();
  }

  formData(): Promise<FormData> {
    return this.standard().formData();
  }

  clone(): Response {
    return this.standard().clone();
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.standard().body;
  }

  get bodyUsed(): boolean {
    return this.#standard === undefined ? this.#used : this.#standard.bodyUsed;
  }
}

/** UTF-8 text as a fetch Response decodes it: a leading byte-order mark is dropped. */
function utf8(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function copy(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function responseOf(status: number, statusText: string, headers: Headers, body: ArrayBuffer): Response {
  const make = (init: ResponseInit): Response =>
    NULL_BODY_STATUS.has(status) ? new Response(null, init) : (new ReadResponse(new Uint8Array(body), init) as unknown as Response);
  try {
    return make({ status, statusText, headers });
  } catch {
    // A reason phrase a Response will not take: the status alone.
    return make({ status, headers });
  }
}

/** undici's own fetch over `agent` (it follows redirects and inflates replies itself). */
async function undiciFetch(input: string | URL, init: RequestInit, agent: Dispatcher): Promise<Response> {
  const { fetch } = await loadUndici();
  // undici's Response class is not the global one (another copy of undici), but a Response all the same.
  return (await fetch(input, { ...(init as object), dispatcher: agent })) as unknown as Response;
}

/** A fetch over `agent` (see above). */
export function fetchOver(agent: Dispatcher): typeof fetch {
  return async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    if (input instanceof Request) {
      const { url, method, headers, signal } = input;
      const body = input.body === null ? {} : { body: input.body, duplex: 'half' as const };
      return undiciFetch(url, { method, headers, signal, ...body, ...init }, agent);
    }
    const body = init.body;
    if (!(body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array)) return undiciFetch(input, init, agent);
    const url = typeof input === 'string' ? new URL(input) : input;
    const headers = headerRecord(init.headers);
    headers['accept-encoding'] ??= 'identity';
    const signal = init.signal ?? undefined;
    const method = (init.method ?? 'GET') as Dispatcher.HttpMethod;
    let reply: Dispatcher.ResponseData;
    try {
      reply = await agent.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method, headers, body: body ?? null, signal });
    } catch (error) {
      throw fetchError(error, signal, 'fetch failed');
    }
    if (REDIRECTS.has(reply.statusCode) && reply.headers.location !== undefined) {
      // Rare (Vertex does not redirect its calls), so kept off the path of every call: the request,
      // which a redirect says was not taken, is made again by undici's fetch, which follows it.
      await reply.body.dump().catch(() => undefined);
      return undiciFetch(url, init, agent);
    }
    const replyHeaders = responseHeaders(reply.headers);
    let data: ArrayBuffer;
    try {
      data = await reply.body.arrayBuffer();
      if (reply.headers['content-encoding'] !== undefined) data = await decoded(data, replyHeaders);
    } catch (error) {
      throw fetchError(error, signal, 'terminated');
    }
    // undici 6 does not pass the reason phrase on; HTTP/2 has none anyway: the standard one.
    return responseOf(reply.statusCode, STATUS_CODES[reply.statusCode] ?? '', replyHeaders, data);
  };
}

let shared: Promise<{ agent: Dispatcher; fetch: typeof fetch }> | undefined;
let sharedFetch: typeof fetch | undefined;

/** The agent every client of the process shares, made (reading the proxy variables) at the first call. */
function sharedClient(): Promise<{ agent: Dispatcher; fetch: typeof fetch }> {
  shared ??= proxyAwareAgent().then((agent) => {
    sharedFetch = fetchOver(agent);
    return { agent, fetch: sharedFetch };
  });
  return shared;
}

/** The fetch every SDK client genbatch builds is given: fetchOver the shared agent. */
export const httpFetch: typeof fetch = (input, init) => (sharedFetch ? sharedFetch(input, init) : sharedClient().then((client) => client.fetch(input, init)));

/** undici's fetch over the shared agent, for genbatch's other calls (webhooks): through the same proxy. */
export const proxiedFetch: typeof fetch = async (input, init = {}) => {
  if (input instanceof Request) throw new TypeError('proxiedFetch takes a URL');
  return undiciFetch(input, init, (await sharedClient()).agent);
};
