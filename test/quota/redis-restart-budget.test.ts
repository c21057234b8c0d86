import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedUsd } from '../helpers/billed.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { redisServerInstalled, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { writeSharedCredentials, writeSharedJob } from '../helpers/shared-jobs.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
let redis: TestRedis | undefined;
afterEach(async () => {
  await emulator?.close();
  await redis?.stop();
  emulator = undefined;
  redis = undefined;
});

const DAILY_USD = 0.03;

interface CostAll {
  spent_usd: number;
}

/** Waits (polling the emulator, as an operator watching a dashboard) until it has billed `usd`. */
async function billedAtLeast(usd: number): Promise<void> {
  for (;;) {
    if (emulator && billedUsd(emulator) >= usd) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.skipIf(!redisServerInstalled)('shared budget through Redis when Redis restarts empty (skipped without redis-server)', () => {
  it(
    'Redis killed and restarted empty mid-run: the two jobs still stop at the day’s cap together; the spend before the crash is put back',
    { timeout: 120_000 },
    async () => {
      emulator = await startEmulator(parseEmulatorConfig({ seed: 8, latency_ms: { min: 20, max: 40 } }), { port: 0 });
      redis = await startRedis();
      const dir = tempDir();
      const shared = tempDir();
      const credentials = writeSharedCredentials(dir, emulator.url, {
        projects: ['spend-a', 'spend-b'],
        top: `coordination: ${redis.url}\nbudget: { daily_usd: ${DAILY_USD} }\n`,
      });
      const jobs = ['briefs', 'captions'].map((name) => writeSharedJob(dir, name, { items: 150, limits: '{ concurrency: 4, max_attempts: 3 }' }));
      const children = jobs.map((job) => spawnCli(['run', job, '--yes', '--plain'], { env: { GENBATCH_SHARED_DIR: shared } }));

      // Half the day's budget spent: Redis dies (SIGKILL) and comes back empty on the same port.
      await billedAtLeast(DAILY_USD / 2);
      const port = redis.port;
      await redis.kill();
      redis = await startRedis({ port });

      const results = await Promise.all(children.map((c) => c.output));
      for (const r of results) expect(r.code, r.stderr.slice(-800)).toBe(3);
      const billed = billedUsd(emulator);
      console.log(`Redis restarted empty at half the budget: $${billed.toFixed(4)} billed for a shared daily_usd of $${DAILY_USD}`);
      expect(billed).toBeLessThanOrEqual(DAILY_USD);

      // What the new Redis holds for the day is what was billed, before and after the crash.
      const all = await runCli(['cost', '--all', credentials, '--json'], { env: { GENBATCH_SHARED_DIR: shared } });
      expect((JSON.parse(all.stdout) as CostAll).spent_usd).toBeCloseTo(billed, 4);
    },
  );

  it('Redis restarted empty between runs: the next run still sees the day’s spend, and stops at the cap', { timeout: 120_000 }, async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 9, latency_ms: { min: 5, max: 15 } }), { port: 0 });
    redis = await startRedis();
    const dir = tempDir();
    const shared = tempDir();
    const credentials = writeSharedCredentials(dir, emulator.url, {
      projects: ['spend-a'],
      top: `coordination: ${redis.url}\nbudget: { daily_usd: ${DAILY_USD} }\n`,
    });
    const first = writeSharedJob(dir, 'briefs', { items: 150, limits: '{ concurrency: 4, max_attempts: 3 }' });
    const capped = await runCli(['run', first, '--yes', '--plain'], { env: { GENBATCH_SHARED_DIR: shared } });
    expect(capped.code, capped.stderr.slice(-800)).toBe(3);
    const callsBefore = emulator.log().length;

    const port = redis.port;
    await redis.stop();
    redis = await startRedis({ port });

    const second = writeSharedJob(dir, 'captions', { items: 50, limits: '{ concurrency: 4, max_attempts: 3 }' });
    const next = await runCli(['run', second, '--yes', '--plain'], { env: { GENBATCH_SHARED_DIR: shared } });
    expect(next.code, next.stderr.slice(-800)).toBe(3);
    expect(next.stderr).toContain(`budget.daily_usd of $${DAILY_USD.toFixed(2)} in ${credentials}`);
    // The day's spend came back from this host's journal before anything was admitted. The first run
    // stopped when a call's worst case no longer fitted, and its calls in flight then settled below
    // their worst case, so the room left may admit a few calls (at most one per place of concurrency);
    // a Redis that forgot the day would admit all 50 items.
    const billed = billedUsd(emulator);
    console.log(`after an empty Redis restart the next run made ${emulator.log().length - callsBefore} call(s); billed $${billed.toFixed(5)} of $${DAILY_USD}`);
    expect(emulator.log().length - callsBefore).toBeLessThanOrEqual(4);
    expect(billed).toBeLessThanOrEqual(DAILY_USD);
    const all = await runCli(['cost', '--all', credentials, '--json'], { env: { GENBATCH_SHARED_DIR: shared } });
    expect((JSON.parse(all.stdout) as CostAll).spent_usd).toBeCloseTo(billed, 4);
  });
});
