import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCoordinator } from '../../src/coordination/redis-coordinator.js';
import { redisServerInstalled, startRedis, type TestRedis } from '../helpers/redis-server.js';

let redis: TestRedis | undefined;
beforeAll(async () => {
  if (redisServerInstalled) redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const KEY = 'vertex|cool|us-central1|gemini-2.5-flash';

describe.skipIf(!redisServerInstalled)('Redis coordinator (skipped when redis-server is not installed)', () => {
  it('is ready only once it knows the cooldowns in force: a run that starts during another run’s cooldown sees it before its first call', async () => {
    const url = redis?.url ?? '';
    const cooling = new RedisCoordinator(url, url);
    const started: RedisCoordinator[] = [];
    try {
      await cooling.whenReady(5000);
      cooling.join({ runId: 'run-a', job: 'job-a', jobFile: 'job-a.yaml', projects: ['cool'], startedAt: new Date().toISOString() });
      const until = Date.now() + 60_000;
      cooling.publishCooldown({ key: KEY, model: 'gemini-2.5-flash', until, reason: '429 RESOURCE_EXHAUSTED', perDay: false });

      // Several starts, each looked at the moment it says it is ready (nothing else awaited in between).
      for (let i = 0; i < 8; i++) {
        const other = new RedisCoordinator(url, url);
        started.push(other);
        await other.whenReady(5000);
        expect(other.health().ok).toBe(true);
        expect(other.cooldownOf(KEY)).toMatchObject({ until, cleared: false, by: cooling.id });
        expect(other.isLive(cooling.id)).toBe(true);
      }
    } finally {
      await Promise.all([cooling, ...started].map((c) => c.close()));
    }
  });
});
