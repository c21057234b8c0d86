import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { GoogleGenAI } from '@google/genai';
import type { Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/credentials/client-factory.js';
import type { ProjectCredentials } from '../../src/credentials/credentials.js';
import { EndpointUnreachableError, OutcomeUnknownError } from '../../src/errors/provider-errors.js';
import { GeminiTextProvider } from '../../src/providers/gemini-text.js';
import { fetchOver, httpFetch, proxyAwareAgent } from '../../src/providers/http-fetch.js';
import { classifyError } from '../../src/resilience/classify-error.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { startTestProxy, startTlsFront, TEST_CERT_FILE, type TestProxy } from '../helpers/proxy-server.js';

/** A local server whose answer each test chooses by path; it counts the connections it accepts. */
function startServer(): Promise<{ url: string; connections: () => number; requests: IncomingMessage[]; close: () => Promise<void> }> {
  const requests: IncomingMessage[] = [];
  let connections = 0;
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse, body: string) => void> = {
    '/json': (_req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo': 'yes' });
      res.end(JSON.stringify({ got: body }));
    },
    '/gzip': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify({ text: 'x'.repeat(200_000) })));
    },
    '/quota': (_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 429, message: 'Resource exhausted.', status: 'RESOURCE_EXHAUSTED' } }));
    },
    '/empty': (_req, res) => {
      res.writeHead(204);
      res.end();
    },
    '/cut': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"partial":');
      setTimeout(() => res.socket?.destroy(), 20);
    },
    '/dribble': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
    },
    '/slow': (_req, res) => {
      setTimeout(() => res.end('{}'), 2000).unref();
    },
    '/br': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'br' });
      res.end(brotliCompressSync(JSON.stringify({ text: 'brotli' })));
    },
    '/gzip-error': (_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify({ error: { code: 429, message: 'Resource exhausted.', status: 'RESOURCE_EXHAUSTED' } })));
    },
    '/moved': (_req, res) => {
      res.writeHead(307, { location: '/json' });
      res.end();
    },
    '/moved-away': (req, res) => {
      res.writeHead(302, { location: `http://localhost:${(req.socket.localPort ?? 0).toString()}/json` });
      res.end();
    },
    '/bom': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ text: 'café ☕' }))]));
    },
    '/loop': (_req, res) => {
      res.writeHead(302, { location: '/loop' });
      res.end();
    },
  };
  const server: Server = createServer((req, res) => {
    requests.push(req);
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => routes[req.url ?? '']?.(req, res, body));
  });
  server.on('connection', () => (connections += 1));
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        connections: () => connections,
        requests,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    ),
  );
}

describe('httpFetch (the SDK\u2019s HTTP client, over undici)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it('sends the method, headers and body, and answers with what the SDK reads of a Response', async () => {
    const response = await httpFetch(`${server.url}/json`, {
      method: 'POST',
      headers: new Headers({ 'content-type': 'application/json', 'x-goog-api-key': 'k' }),
      body: '{"a":1}',
    });
    expect(response.ok).toBe(true);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-echo')).toBe('yes');
    expect(await response.json()).toEqual({ got: '{"a":1}' });
    // Read once, as a fetch reply is.
    await expect(response.json()).rejects.toThrow(TypeError);
    const seen = server.requests.at(-1);
    expect(seen?.method).toBe('POST');
    expect(seen?.headers['x-goog-api-key']).toBe('k');
  });

  it('frames a DELETE\u2019s body with its length (node:http would not), so the server reads one request', async () => {
    const response = await httpFetch(`${server.url}/json`, { method: 'DELETE', body: '{}' });
    expect(await response.json()).toEqual({ got: '{}' });
    expect(server.requests.at(-1)?.headers['content-length']).toBe('2');
  });

  it('keeps connections alive: ten calls in a row use one connection', async () => {
    const before = server.connections();
    for (let i = 0; i < 10; i += 1) await (await httpFetch(`${server.url}/json`, { method: 'POST', body: String(i) })).json();
    expect(server.connections() - before).toBeLessThanOrEqual(1);
  });

  it('asks for uncompressed replies, and reads gzip ones all the same, error replies too (the SDK reads Google\u2019s error body)', async () => {
    const response = await httpFetch(`${server.url}/gzip`);
    expect(server.requests.at(-1)?.headers['accept-encoding']).toBe('identity');
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(((await response.json()) as { text: string }).text).toHaveLength(200_000);
    expect(await (await httpFetch(`${server.url}/br`)).json()).toEqual({ text: 'brotli' });
    const error = await httpFetch(`${server.url}/gzip-error`);
    expect(error.status).toBe(429);
    expect(error.headers.get('content-encoding')).toBeNull();
    expect(await error.json()).toMatchObject({ error: { status: 'RESOURCE_EXHAUSTED' } });
  });

  it('follows redirects: a POST\u2019s 307 keeps its method and body, on the same origin or another', async () => {
    const response = await httpFetch(`${server.url}/moved`, { method: 'POST', body: 'moved me' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ got: 'moved me' });
    expect(server.requests.slice(-2).map((r) => r.url)).toEqual(['/moved', '/json']);
    // 302 to another origin (localhost for 127.0.0.1): a POST becomes a GET there, as fetch does.
    const away = await httpFetch(`${server.url}/moved-away`, { method: 'POST', body: 'x' });
    expect(away.status).toBe(200);
    expect(server.requests.at(-1)?.method).toBe('GET');
  });

  it('gives up on a redirect loop with a network error, not a hang', async () => {
    const error = await httpFetch(`${server.url}/loop`).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(error?.message).toBe('fetch failed');
  });

  it('gives an error status as a Response, for the SDK to turn into its ApiError', async () => {
    const response = await httpFetch(`${server.url}/quota`);
    expect(response.status).toBe(429);
    expect(response.ok).toBe(false);
  });

  it('answers with a standard Response (its body stream, clone)', async () => {
    const response = await httpFetch(`${server.url}/json`, { method: 'POST', body: 'stream me' });
    expect(response).toBeInstanceOf(Response);
    expect(await new Response(response.clone().body).json()).toEqual({ got: 'stream me' });
    const chunks: Uint8Array[] = [];
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ got: 'stream me' });
  });

  it('reads a reply as a Blob with its bytes, once', async () => {
    const response = await httpFetch(`${server.url}/json`, { method: 'POST', body: 'blob me' });
    const blob = await response.blob();
    expect(JSON.parse(await blob.text())).toEqual({ got: 'blob me' });
    expect(response.bodyUsed).toBe(true);
    await expect(response.text()).rejects.toThrow('Body is unusable');
  });

  it('reads a reply as the global fetch does, whichever way it is read first (a byte-order mark dropped, one read only)', async () => {
    type Read = (r: Response) => Promise<unknown>;
    const reads: Record<string, Read> = {
      json: (r) => r.json(),
      text: (r) => r.text(),
      bytes: async (r) => Buffer.from(await r.arrayBuffer()).toString('hex'),
      blob: async (r) => {
        const blob = await r.blob();
        return [blob.type, await blob.text()];
      },
      stream: async (r) => {
        const chunks: Uint8Array[] = [];
        for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
        return Buffer.concat(chunks).toString('hex');
      },
      clone: (r) => r.clone().text(),
    };
    const outcome = async (response: Response, first: Read, then: Read): Promise<unknown[]> => {
      // clone() of a read body throws at once; a body method rejects.
      const settle = (read: Read) =>
        Promise.resolve()
          .then(() => read(response))
          .then(
            (value) => ['read', value],
            (error: unknown) => ['failed', (error as Error).name],
          );
      const one = await settle(first);
      return [one, response.bodyUsed, await settle(then), response.bodyUsed];
    };
    for (const [firstName, first] of Object.entries(reads))
      for (const [thenName, then] of Object.entries(reads)) {
        const ours = await outcome(await httpFetch(`${server.url}/bom`), first, then);
        const standard = await outcome(await fetch(`${server.url}/bom`), first, then);
        expect(ours, `${firstName} then ${thenName}`).toEqual(standard);
      }
  });

  it('answers a 204 with no body', async () => {
    const response = await httpFetch(`${server.url}/empty`);
    expect(response.status).toBe(204);
    expect(response.body).toBeNull();
  });

  it('rejects as the global fetch does when nothing listens: classified as the endpoint unreachable (nothing was sent)', async () => {
    const error = await httpFetch('http://127.0.0.1:1/x').then(
      () => undefined,
      (e: unknown) => e as TypeError & { cause?: { code?: string } },
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(error?.message).toBe('fetch failed');
    expect(error?.cause?.code).toBe('ECONNREFUSED');
    expect(classifyError(error)).toBeInstanceOf(EndpointUnreachableError);
  });

  it('rejects a reply cut short with "terminated": the outcome is unknown (the call may have been billed)', async () => {
    const error = await httpFetch(`${server.url}/cut`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe('terminated');
    expect(classifyError(error)).toBeInstanceOf(OutcomeUnknownError);
  });

  it('rejects with an AbortError when the signal aborts before the reply', async () => {
    const started = Date.now();
    const error = await httpFetch(`${server.url}/slow`, { signal: AbortSignal.timeout(50) }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(1500);
    expect(classifyError(error)).toBeInstanceOf(OutcomeUnknownError);
  });

  it('rejects with an AbortError when the signal aborts while the reply is read, and an aborted signal sends nothing', async () => {
    const error = await httpFetch(`${server.url}/dribble`, { signal: AbortSignal.timeout(50) }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('AbortError');
    const before = server.requests.length;
    const early = await httpFetch(`${server.url}/json`, { signal: AbortSignal.abort() }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(early?.name).toBe('AbortError');
    expect(server.requests.length).toBe(before);
  });

  it('sends a Request object or a streamed body through undici\u2019s fetch, over the same dispatcher', async () => {
    const response = await httpFetch(new Request(`${server.url}/json`, { method: 'POST', body: 'req' }));
    expect(await response.json()).toEqual({ got: 'req' });
    const stream = new Blob(['blob body']).stream();
    const streamed = await httpFetch(`${server.url}/json`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(await streamed.json()).toEqual({ got: 'blob body' });
  });
});

describe('the clients genbatch builds, against the emulator', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator();
  });
  afterAll(() => t.close());

  it('are given genbatch\u2019s HTTP client, which the SDK reads replies from', async () => {
    const project = {
      name: 'p',
      project: 'test-project',
      location: 'us-central1',
      endpoint: t.url,
      auth: { kind: 'api_key', apiKey: 'k' },
      quotas: {},
      pool: 'default',
      enabled: true,
    } as ProjectCredentials;
    const client = createClient(project);
    expect((client as unknown as { apiClient: { clientOptions: { httpOptions?: { fetch?: unknown } } } }).apiClient.clientOptions.httpOptions?.fetch).toBe(
      httpFetch,
    );
    const request = { task: 'text' as const, model: 'gemini-2.5-flash', prompt: 'Write about SQLite.', params: {}, temperature: 0 };
    const reply = await new GeminiTextProvider().call(client, request);
    expect(reply.text?.length).toBeGreaterThan(20);
    expect(t.stats().projects['test-project']?.by_model['gemini-2.5-flash']?.ok).toBe(1);
  });
});

const PROXY_VARIABLES = ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy'] as const;

/**
 * Runs `call` with `env` as the only proxy variables, given a dispatcher made as genbatch makes its
 * own (reading them). They stay set until the call is done: undici reads NO_PROXY at each request.
 */
async function underProxyEnv<T>(
  env: Partial<Record<(typeof PROXY_VARIABLES)[number], string>>,
  call: (dispatcher: Dispatcher) => Promise<T>,
  options: Parameters<typeof proxyAwareAgent>[0] = {},
): Promise<T> {
  const previous = Object.fromEntries(PROXY_VARIABLES.map((name) => [name, process.env[name]]));
  for (const name of PROXY_VARIABLES) delete process.env[name];
  Object.assign(process.env, env);
  const dispatcher = await proxyAwareAgent(options);
  try {
    return await call(dispatcher);
  } finally {
    await dispatcher.close();
    for (const name of PROXY_VARIABLES) {
      const value = previous[name];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe('proxies: HTTPS_PROXY, HTTP_PROXY and NO_PROXY, through a real proxy on 127.0.0.1', () => {
  let t: TestEmulator;
  let proxy: TestProxy;
  let front: Awaited<ReturnType<typeof startTlsFront>>;
  // The emulator over HTTPS, with the test certificate trusted (as NODE_EXTRA_CA_CERTS does for the CLI).
  const ca = readFileSync(TEST_CERT_FILE);
  const tls = { connect: { ca }, requestTls: { ca } };
  beforeAll(async () => {
    t = await startTestEmulator();
    proxy = await startTestProxy();
    front = await startTlsFront(Number(new URL(t.url).port));
  });
  afterAll(async () => {
    await front.close();
    await proxy.close();
    await t.close();
  });

  /** One text call through the SDK to `url`, given a fetch over a dispatcher made under `env`. */
  function sdkCall(url: string, env: Parameters<typeof underProxyEnv>[0], options: Parameters<typeof proxyAwareAgent>[0] = {}): Promise<string | undefined> {
    return underProxyEnv(
      env,
      async (dispatcher) => {
        const ai = new GoogleGenAI({
          vertexai: true,
          project: 'test-project',
          location: 'us-central1',
          apiKey: 'k',
          httpOptions: { baseUrl: url, fetch: fetchOver(dispatcher) },
        });
        return (await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Write about proxies.' })).text;
      },
      options,
    );
  }

  const seen = (): string[] => [...proxy.tunnels, ...proxy.forwarded];

  it('HTTPS_PROXY carries an HTTPS call through a CONNECT tunnel; NO_PROXY naming the host sends it direct', async () => {
    const target = `localhost:${front.port}`;
    expect(await sdkCall(front.url, { HTTPS_PROXY: proxy.url }, tls)).toBeTruthy();
    expect(proxy.tunnels).toContain(target);
    const before = seen().length;
    expect(await sdkCall(front.url, { HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com,localhost' }, tls)).toBeTruthy();
    expect(await sdkCall(front.url, { https_proxy: proxy.url, no_proxy: '*' }, tls)).toBeTruthy();
    expect(seen().length).toBe(before);
  });

  it('HTTP_PROXY carries a plain-HTTP call (the emulator); HTTPS_PROXY alone does not; NO_PROXY with the port sends it direct', async () => {
    const host = new URL(t.url).host;
    expect(await sdkCall(t.url, { HTTP_PROXY: proxy.url })).toBeTruthy();
    expect(seen().some((entry) => entry.includes(host))).toBe(true);
    const before = seen().length;
    expect(await sdkCall(t.url, { HTTPS_PROXY: proxy.url })).toBeTruthy();
    expect(await sdkCall(t.url, { HTTP_PROXY: proxy.url, NO_PROXY: host })).toBeTruthy();
    expect(seen().length).toBe(before);
  });

  it('a proxy that does not answer fails the call as the endpoint unreachable (nothing was sent)', async () => {
    const error = await underProxyEnv(
      { HTTPS_PROXY: 'http://127.0.0.1:1' },
      (dispatcher) =>
        fetchOver(dispatcher)(`${front.url}/v1/x`).then(
          () => undefined,
          (e: unknown) => e,
        ),
      tls,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(classifyError(error)).toBeInstanceOf(EndpointUnreachableError);
  });
});
