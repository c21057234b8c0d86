import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/credentials/client-factory.js';
import type { ProjectCredentials } from '../../src/credentials/credentials.js';
import { EndpointUnreachableError, OutcomeUnknownError } from '../../src/errors/provider-errors.js';
import { GeminiTextProvider } from '../../src/providers/gemini-text.js';
import { nodeHttpFetch } from '../../src/providers/node-http-fetch.js';
import { classifyError } from '../../src/resilience/classify-error.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

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

describe('nodeHttpFetch (the SDK\u2019s HTTP client)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it('sends the method, headers and body, and answers with what the SDK reads of a Response', async () => {
    const response = await nodeHttpFetch(`${server.url}/json`, {
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
    const response = await nodeHttpFetch(`${server.url}/json`, { method: 'DELETE', body: '{}' });
    expect(await response.json()).toEqual({ got: '{}' });
    expect(server.requests.at(-1)?.headers['content-length']).toBe('2');
  });

  it('keeps connections alive: ten calls in a row use one connection', async () => {
    const before = server.connections();
    for (let i = 0; i < 10; i += 1) await (await nodeHttpFetch(`${server.url}/json`, { method: 'POST', body: String(i) })).json();
    expect(server.connections() - before).toBeLessThanOrEqual(1);
  });

  it('asks for compressed replies and inflates them', async () => {
    const response = await nodeHttpFetch(`${server.url}/gzip`);
    expect(server.requests.at(-1)?.headers['accept-encoding']).toContain('gzip');
    expect(((await response.json()) as { text: string }).text).toHaveLength(200_000);
  });

  it('gives an error status as a Response, for the SDK to turn into its ApiError', async () => {
    const response = await nodeHttpFetch(`${server.url}/quota`);
    expect(response.status).toBe(429);
    expect(response.ok).toBe(false);
  });

  it('serves what only a standard Response has (the body stream, clone) from one made on demand', async () => {
    const response = await nodeHttpFetch(`${server.url}/json`, { method: 'POST', body: 'stream me' });
    expect(await new Response(response.clone().body).json()).toEqual({ got: 'stream me' });
    const chunks: Uint8Array[] = [];
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ got: 'stream me' });
  });

  it('reads a reply as a Blob with its bytes, once', async () => {
    const response = await nodeHttpFetch(`${server.url}/json`, { method: 'POST', body: 'blob me' });
    const blob = await response.blob();
    expect(JSON.parse(await blob.text())).toEqual({ got: 'blob me' });
    expect(response.bodyUsed).toBe(true);
    await expect(response.text()).rejects.toThrow('Body is unusable');
  });

  it('answers a 204 with no body', async () => {
    const response = await nodeHttpFetch(`${server.url}/empty`);
    expect(response.status).toBe(204);
    expect(response.body).toBeNull();
  });

  it('rejects as the global fetch does when nothing listens: classified as the endpoint unreachable (nothing was sent)', async () => {
    const error = await nodeHttpFetch('http://127.0.0.1:1/x').then(
      () => undefined,
      (e: unknown) => e as TypeError & { cause?: { code?: string } },
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(error?.message).toBe('fetch failed');
    expect(error?.cause?.code).toBe('ECONNREFUSED');
    expect(classifyError(error)).toBeInstanceOf(EndpointUnreachableError);
  });

  it('rejects a reply cut short with "terminated": the outcome is unknown (the call may have been billed)', async () => {
    const error = await nodeHttpFetch(`${server.url}/cut`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe('terminated');
    expect(classifyError(error)).toBeInstanceOf(OutcomeUnknownError);
  });

  it('rejects with an AbortError when the signal aborts before the reply', async () => {
    const started = Date.now();
    const error = await nodeHttpFetch(`${server.url}/slow`, { signal: AbortSignal.timeout(50) }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(1500);
    expect(classifyError(error)).toBeInstanceOf(OutcomeUnknownError);
  });

  it('rejects with an AbortError when the signal aborts while the reply is read, and an aborted signal sends nothing', async () => {
    const error = await nodeHttpFetch(`${server.url}/dribble`, { signal: AbortSignal.timeout(50) }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('AbortError');
    const before = server.requests.length;
    const early = await nodeHttpFetch(`${server.url}/json`, { signal: AbortSignal.abort() }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(early?.name).toBe('AbortError');
    expect(server.requests.length).toBe(before);
  });

  it('leaves what it does not handle (a Request object, a streamed body) to the global fetch', async () => {
    const response = await nodeHttpFetch(new Request(`${server.url}/json`, { method: 'POST', body: 'req' }));
    expect(await response.json()).toEqual({ got: 'req' });
    const stream = new Blob(['blob body']).stream();
    const streamed = await nodeHttpFetch(`${server.url}/json`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(await streamed.json()).toEqual({ got: 'blob body' });
  });
});

describe('the clients genbatch builds, against the emulator', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator();
  });
  afterAll(() => t.close());

  const project = (): ProjectCredentials =>
    ({
      name: 'p',
      project: 'test-project',
      location: 'us-central1',
      endpoint: t.url,
      auth: { kind: 'api_key', apiKey: 'k' },
      quotas: {},
      pool: 'default',
      enabled: true,
    }) as ProjectCredentials;

  it('answer the same with genbatch\u2019s HTTP client and with GENBATCH_HTTP_CLIENT=fetch (Node\u2019s global fetch)', async () => {
    const provider = new GeminiTextProvider();
    const request = { task: 'text' as const, model: 'gemini-2.5-flash', prompt: 'Write about SQLite.', params: {}, temperature: 0 };
    const own = await provider.call(createClient(project()), request);
    const previous = process.env.GENBATCH_HTTP_CLIENT;
    process.env.GENBATCH_HTTP_CLIENT = 'fetch';
    try {
      const global = await provider.call(createClient(project()), request);
      // The emulator varies its replies per ask: the same request, answered both ways.
      expect(own.text?.length).toBeGreaterThan(20);
      expect(global.text?.length).toBeGreaterThan(20);
      expect(global.usage.inputTokens).toBe(own.usage.inputTokens);
    } finally {
      if (previous === undefined) delete process.env.GENBATCH_HTTP_CLIENT;
      else process.env.GENBATCH_HTTP_CLIENT = previous;
    }
    expect(t.stats().projects['test-project']?.by_model['gemini-2.5-flash']?.ok).toBe(2);
  });
});
