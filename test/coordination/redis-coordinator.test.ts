import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCoordinator } from '../../src/coordination/redis-coordinator.js';
import { SharedCapacityWindow } from '../../src/coordination/shared-capacity-window.js';
import type { WindowTicket } from '../../src/resilience/adaptive-window.js';
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

  it('hosts share one capacity window: places taken at the same moment by two hosts never exceed it, and each end moves it for both', async () => {
    const url = redis?.url ?? '';
    const hosts = [new RedisCoordinator(url, url), new RedisCoordinator(url, url)];
    try {
      await Promise.all(hosts.map((h) => h.whenReady(5000)));
      const key = JSON.stringify(['', 'europe-west4', 'gemini-2.5-flash']);
      const [a, b] = hosts.map((h) => new SharedCapacityWindow(h, key, Date.now, () => undefined)) as [SharedCapacityWindow, SharedCapacityWindow];
      // Both hosts ask for 6 places at once: the window (4 to start with) admits 4 in all, whatever the interleaving.
      const asked = await Promise.all([...Array.from({ length: 6 }, () => a.acquire()), ...Array.from({ length: 6 }, () => b.acquire())]);
      const tickets = asked.filter((t): t is WindowTicket => t !== undefined);
      expect(tickets).toHaveLength(4);
      for (const t of tickets) t.end('success');
      // Each end is one change of the window in Redis; both hosts read the same window afterwards.
      await expect.poll(async () => (await hosts[1]?.windows.all(0))?.map((w) => JSON.parse(w.state) as { successes: number })[0]?.successes).toBe(4);
      await expect.poll(() => a.snapshot()).toMatchObject({ limit: 8, inFlight: 0, successes: 4 });
      await expect.poll(() => b.snapshot()).toMatchObject({ limit: 8, inFlight: 0, successes: 4 });
    } finally {
      await Promise.all(hosts.map((h) => h.close()));
    }
  });
});
