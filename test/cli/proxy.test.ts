import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { NOTE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { startTestProxy, startTlsFront, TEST_CERT_FILE, type TestProxy } from '../helpers/proxy-server.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/**
 * A user behind a corporate proxy: `genbatch run` with HTTPS_PROXY set reaches Vertex (here the
 * emulator behind an HTTPS front with a test certificate, trusted through NODE_EXTRA_CA_CERTS) only
 * through the proxy; with NO_PROXY naming the host it goes direct.
 */
describe('genbatch run behind a proxy (HTTPS_PROXY, NO_PROXY)', () => {
  let emulator: RunningEmulator;
  let front: Awaited<ReturnType<typeof startTlsFront>>;
  let proxy: TestProxy;
  beforeAll(async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 0 }), { port: 0 });
    front = await startTlsFront(Number(new URL(emulator.url).port));
    proxy = await startTestProxy();
  });
  afterAll(async () => {
    await proxy.close();
    await front.close();
    await emulator.close();
  });

  /**
   * The proxy variables of the run, and nothing inherited from the machine's (in both cases: undici
   * reads the lower-case one first).
   */
  const proxyEnv = ({ HTTPS_PROXY = '', NO_PROXY = '' }: { HTTPS_PROXY?: string; NO_PROXY?: string }): NodeJS.ProcessEnv => ({
    HTTPS_PROXY,
    https_proxy: HTTPS_PROXY,
    NO_PROXY,
    no_proxy: NO_PROXY,
    HTTP_PROXY: '',
    http_proxy: '',
    NODE_EXTRA_CA_CERTS: fileURLToPath(TEST_CERT_FILE),
  });

  async function run(env: NodeJS.ProcessEnv, items: number): Promise<string> {
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), front.url, [{ name: 'proxied' }]);
    const job = writeJob(dir, { items, steps: NOTE_STEP, limits: '{ concurrency: 2 }' });
    const result = await runCli(['run', job, '--yes', '--plain', '--no-cache'], { cwd: dir, env });
    expect(result.code, result.stderr.slice(-1500)).toBe(0);
    return dir;
  }

  it('sends every call through the proxy when HTTPS_PROXY is set, and none when NO_PROXY names the host', async () => {
    const target = `localhost:${front.port}`;
    const dir = await run(proxyEnv({ HTTPS_PROXY: proxy.url }), 3);
    expect(readdirSync(join(dir, 'out', 'notes'))).toHaveLength(3);
    expect(proxy.tunnels.filter((t) => t === target).length).toBeGreaterThanOrEqual(1);
    expect(emulator.stats().projects['proxied']?.by_model['gemini-2.5-flash']?.ok).toBe(3);

    const tunnels = proxy.tunnels.length;
    await run(proxyEnv({ HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost' }), 2);
    expect(proxy.tunnels.length).toBe(tunnels);
    expect(proxy.forwarded).toEqual([]);
    expect(emulator.stats().projects['proxied']?.by_model['gemini-2.5-flash']?.ok).toBe(5);
  });
});
