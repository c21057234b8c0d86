import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

/**
 * A real forward proxy on 127.0.0.1, as a corporate one behaves for what genbatch sends: CONNECT
 * tunnels (HTTPS, and plain HTTP when a client tunnels it) and absolute-form plain-HTTP requests,
 * forwarded. It counts what it forwarded, by target.
 */
export interface TestProxy {
  /** `http://127.0.0.1:PORT`, for HTTPS_PROXY / HTTP_PROXY. */
  url: string;
  /** `host:port` of each CONNECT tunnel it opened. */
  tunnels: string[];
  /** The absolute URL of each plain request it forwarded. */
  forwarded: string[];
  close(): Promise<void>;
}

function listening(server: Server | ReturnType<typeof createTlsServer>): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** Closes `server` after destroying the sockets it still holds (keep-alive connections, tunnels). */
function closer(server: Server | ReturnType<typeof createTlsServer>, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}

export async function startTestProxy(): Promise<TestProxy> {
  const tunnels: string[] = [];
  const forwarded: string[] = [];
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const server = createServer((req: IncomingMessage, res) => {
    // Absolute form (`GET http://host:port/path`): forwarded as it came.
    const target = new URL(req.url ?? '');
    forwarded.push(target.href);
    const upstream = request(target, { method: req.method, headers: req.headers }, (reply) => {
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connection', track);
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const [host = '', port = '443'] = (req.url ?? '').split(/:(?=\d+$)/);
    tunnels.push(`${host}:${port}`);
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  const port = await listening(server);
  return { url: `http://127.0.0.1:${port}`, tunnels, forwarded, close: closer(server, sockets) };
}

export const TEST_CERT_FILE = new URL('../fixtures/tls/localhost-cert.pem', import.meta.url);
const TEST_KEY_FILE = new URL('../fixtures/tls/localhost-key.pem', import.meta.url);

/**
 * An HTTPS front for a plain-HTTP server (the emulator) on 127.0.0.1, with the self-signed
 * certificate of test/fixtures/tls (trust it with NODE_EXTRA_CA_CERTS or a `ca` option).
 */
export async function startTlsFront(targetPort: number): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTlsServer({ cert: readFileSync(TEST_CERT_FILE), key: readFileSync(TEST_KEY_FILE) }, (secure) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    secure.pipe(upstream).pipe(secure);
    upstream.on('error', () => secure.destroy());
    secure.on('error', () => upstream.destroy());
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listening(server);
  return { url: `https://localhost:${port}`, port, close: closer(server, sockets) };
}
