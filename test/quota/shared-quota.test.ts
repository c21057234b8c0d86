import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { stateCounts } from '../helpers/emulated-job.js';
import { freePort, redisServerInstalled, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { writeSharedCredentials, writeSharedJob } from '../helpers/shared-jobs.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

let redis: TestRedis | undefined;
beforeAll(async () => {
  if (redisServerInstalled) redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const RATE = 10; // requests per second, declared and enforced by the emulator
const ITEMS = 150;

/**
 * Two different jobs on one credentials file (one project, `requests: 10, window: 1s`) started at the
 * same time, each with its own state file and, when `sharedDirs` differ, its own shared folder (as on
 * two hosts). Returns what the emulator saw.
 */
async function twoJobsTogether(options: {
  coordination?: string;
  sharedDirs: [string, string];
}): Promise<{ requests: number; rejected: number; rate: number }> {
  emulator = await startEmulator(parseEmulatorConfig({ seed: 3, latency_ms: { min: 10, max: 30 }, projects: { shared: { requests: RATE, window: '1s' } } }), {
    port: 0,
  });
  const dir = tempDir();
  writeSharedCredentials(dir, emulator.url, {
    quotas: `{ default: { requests: ${RATE}, window: 1s } }`,
    ...(options.coordination ? { top: `coordination: ${options.coordination}\n` } : {}),
  });
  const names = ['nightly-briefs', 'nightly-summaries'];
  const jobs = names.map((name) => writeSharedJob(dir, name, { items: ITEMS }));
  const children = jobs.map((job, i) => spawnCli(['run', job, '--yes', '--plain'], { env: { GENBATCH_SHARED_DIR: options.sharedDirs[i] } }));
  const results = await Promise.all(children.map((c) => c.output));
  for (const r of results) expect(r.code, r.stderr.slice(-800)).toBe(0);
  for (const name of names) expect(stateCounts(join(dir, name, '.genbatch', `${name}.db`))).toEqual({ done: ITEMS });

  const log = emulator.log();
  const ok = log.filter((r) => r.status === 200).map((r) => r.at);
  const rejected = log.filter((r) => r.status === 429).length;
  expect(ok).toHaveLength(2 * ITEMS);
  // Both ran at once: each job's calls are spread over the whole span, not one after the other.
  const rate = (ok.length - 1) / (((ok.at(-1) ?? 0) - (ok[0] ?? 0)) / 1000);
  return { requests: log.length, rejected, rate };
}

describe('shared quota: runs on one set of projects keep its declared limits together', () => {
  // How much of the quota they use together (the throughput) is measured by `npm run bench quota-declared-two-jobs`.
  it('one host, no server: two jobs at once get at most 1% 429s and never exceed the quota together', { timeout: 120_000 }, async () => {
    const shared = tempDir();
    const { requests, rejected, rate } = await twoJobsTogether({ sharedDirs: [shared, shared] });
    console.log(
      `shared quota (one host): ${rejected} 429s of ${requests} requests (${((rejected / requests) * 100).toFixed(1)}%), ${rate.toFixed(2)} req/s of ${RATE}`,
    );
    expect(rejected / requests).toBeLessThanOrEqual(0.01);
    expect(rate).toBeLessThanOrEqual(RATE);
  });

  it.skipIf(!redisServerInstalled)(
    'Redis (skipped when redis-server is not installed; .ci/run installs it): the same across two state and shared folders, as on two hosts',
    { timeout: 120_000 },
    async () => {
      const { requests, rejected, rate } = await twoJobsTogether({ coordination: redis?.url ?? '', sharedDirs: [tempDir(), tempDir()] });
      console.log(
        `shared quota (redis): ${rejected} 429s of ${requests} requests (${((rejected / requests) * 100).toFixed(1)}%), ${rate.toFixed(2)} req/s of ${RATE}`,
      );
      expect(rejected / requests).toBeLessThanOrEqual(0.01);
      expect(rate).toBeLessThanOrEqual(RATE);
    },
  );

  it(
    'Redis unreachable: nothing is sent (never unshared limits), and the run stops after max_stall with exit 75, naming the server',
    { timeout: 60_000 },
    async () => {
      emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 0 }), { port: 0 });
      const dir = tempDir();
      const port = await freePort();
      writeSharedCredentials(dir, emulator.url, { quotas: '{ default: { requests: 10, window: 1s } }', top: `coordination: redis://127.0.0.1:${port}\n` });
      const job = writeSharedJob(dir, 'lonely', { items: 5, limits: '{ concurrency: 2, max_stall: 2s }' });
      const result = await runCli(['run', job, '--yes', '--plain'], { env: { GENBATCH_SHARED_DIR: tempDir() } });
      expect(result.code, result.stderr).toBe(75);
      expect(result.stderr).toContain(`the coordination server redis://127.0.0.1:${port} cannot be reached`);
      expect(result.stderr).toMatch(/Stalled on quota: no pending work could make progress for \ds/);
      expect(emulator.log()).toHaveLength(0);
      expect(stateCounts(join(dir, 'lonely', '.genbatch', 'lonely.db'))).toEqual({ pending: 5 });
    },
  );
});
