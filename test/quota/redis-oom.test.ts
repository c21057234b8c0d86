import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls } from '../helpers/billed.js';
import { spawnCli } from '../helpers/cli.js';
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

describe.skipIf(!redisServerInstalled)('Redis out of memory (skipped without redis-server)', () => {
  it('a run waits and says why, sends nothing meanwhile, and goes on once Redis has room again', { timeout: 120_000 }, async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 4, latency_ms: { min: 5, max: 15 } }), { port: 0 });
    // A small Redis that refuses writes once full (noeviction: Redis's default policy).
    redis = await startRedis({ args: ['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction'] });
    const admin = new Redis(redis.url);
    try {
      // Another tenant filled it up.
      const chunk = 'x'.repeat(64 * 1024);
      for (let i = 0; ; i++) {
        try {
          await admin.set(`tenant:${i}`, chunk);
        } catch {
          break;
        }
      }
      const dir = tempDir();
      writeSharedCredentials(dir, emulator.url, { projects: ['oom-a'], top: `coordination: ${redis.url}\nbudget: { daily_usd: 5 }\n` });
      const job = writeSharedJob(dir, 'briefs', { items: 20, limits: '{ concurrency: 4, max_attempts: 3 }' });
      const child = spawnCli(['run', job, '--yes', '--plain'], { env: { GENBATCH_SHARED_DIR: tempDir() } });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      // It waits on Redis and says so, without a call sent.
      for (let waited = 0; !/out of memory|OOM/i.test(stderr) && child.exitCode === null && waited < 200; waited++) await new Promise((r) => setTimeout(r, 50));
      expect(child.exitCode).toBeNull();
      expect(stderr).toMatch(/OOM|out of memory/i);
      expect(billedCalls(emulator)).toBe(0);
      // The other tenant's data goes: room again.
      await admin.flushall();
      const result = await child.output;
      expect(result.code, result.stderr.slice(-800)).toBe(0);
      expect(result.stderr).not.toMatch(/This is a bug|\n\s+at .+\(.+:\d+:\d+\)/);
      expect(billedCalls(emulator)).toBe(20);
    } finally {
      admin.disconnect();
    }
  });
});
