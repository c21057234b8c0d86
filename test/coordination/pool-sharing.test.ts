import type { GoogleGenAI } from '@google/genai';
import { describe, expect, it } from 'vitest';
import type { CoordinationEvent, CoordinationHealth, Coordinator, SharedCooldown } from '../../src/coordination/coordinator.js';
import { quotaKey } from '../../src/coordination/quota-key.js';
import type { ProjectCredentials } from '../../src/credentials/credentials.js';
import { ProjectPool } from '../../src/coordination/project-pool.js';
import { memoryWindows } from '../helpers/memory-windows.js';

const MODEL = 'gemini-2.5-flash';
const T0 = Date.UTC(2025, 5, 10, 12, 0, 0);

/** No limits declared: the limiter does not pace, so leases are taken at once and only the pool's own logic is seen. */
const project: ProjectCredentials = {
  name: 'prod',
  project: 'gcp-prod',
  location: 'us-central1',
  auth: { kind: 'api_key', apiKey: 'k', source: 'file' },
  quotas: {},
  pool: 'default',
  enabled: true,
};
const KEY = quotaKey(project, MODEL);

/** What other runs have said, as the coordinator passes it on; records what this run says. */
function fakeCoordinator(options: { live?: boolean; recorded?: SharedCooldown; counts?: boolean } = {}) {
  const listeners = new Set<(event: CoordinationEvent) => void>();
  const published: { key: string; until: number }[] = [];
  const cleared: { key: string; startedAt: number }[] = [];
  let health: CoordinationHealth = { ok: true };
  const coordinator: Partial<Coordinator> = {
    kind: 'redis',
    where: 'redis://redis.internal:6379',
    id: 'me',
    health: () => health,
    lostSignal: () => new AbortController().signal,
    onEvent: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    limiterHooks: () => ({}),
    isLive: () => options.live ?? true,
    cooldownOf: (key) => (key === KEY ? options.recorded : undefined),
    publishCooldown: (c) => published.push({ key: c.key, until: c.until }),
    clearCooldown: (key, startedAt) => cleared.push({ key, startedAt }),
    countRequest: () => Promise.resolve(options.counts ?? true),
    requestsToday: () => 0,
    windows: memoryWindows(),
  };
  return {
    coordinator: coordinator as Coordinator,
    published,
    cleared,
    tell: (cooldown: SharedCooldown) => {
      for (const listener of listeners) listener({ kind: 'cooldown', cooldown });
    },
    setHealth: (next: CoordinationHealth) => (health = next),
  };
}

function pool(coordinator: Coordinator, now: { t: number }, quotas: ProjectCredentials['quotas'] = {}): ProjectPool {
  return new ProjectPool(
    { file: '/etc/genbatch/credentials.yaml', strategy: 'round-robin', projects: [{ ...project, quotas }] },
    { createClient: () => ({}) as GoogleGenAI, now: () => now.t, wallNow: () => now.t, coordinator },
  );
}

const cooldown = (over: Partial<SharedCooldown> = {}): SharedCooldown => ({
  key: KEY,
  model: MODEL,
  until: T0 + 30_000,
  reason: 'quota exhausted (429)',
  perDay: false,
  at: T0,
  by: 'other',
  cleared: false,
  ...over,
});

describe('ProjectPool with other runs (a coordinator)', () => {
  it("another run's 429 cools the project here until the same time; its probe's success lets this run go on without a probe of its own", async () => {
    const now = { t: T0 };
    const fake = fakeCoordinator();
    const p = pool(fake.coordinator, now);
    expect(p.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    fake.tell(cooldown());
    expect(p.availability(MODEL, undefined)).toMatchObject({ state: 'waiting', until: T0 + 30_000 });
    expect(await p.acquire(MODEL, undefined, new AbortController().signal)).toBeUndefined();
    now.t = T0 + 30_001;
    fake.tell(cooldown({ cleared: true }));
    const lease = await p.acquire(MODEL, undefined, new AbortController().signal);
    expect(lease?.probe).toBe(false);
    lease?.release();
    p.detach();
  });

  it('a cooldown found at first use: in force when its run is going; only a hint (one probe) when that run is gone', async () => {
    const now = { t: T0 + 1000 };
    const going = pool(fakeCoordinator({ recorded: cooldown() }).coordinator, now);
    expect(going.availability(MODEL, undefined)).toMatchObject({ state: 'waiting', until: T0 + 30_000 });
    const gone = pool(fakeCoordinator({ recorded: cooldown(), live: false }).coordinator, now);
    const probe = await gone.acquire(MODEL, undefined, new AbortController().signal);
    expect(probe?.probe).toBe(true);
    expect(await gone.acquire(MODEL, undefined, new AbortController().signal)).toBeUndefined();
  });

  it("tells the other runs of this run's 429, and clears it when this run's probe gets through", async () => {
    const now = { t: T0 };
    const fake = fakeCoordinator();
    const p = pool(fake.coordinator, now);
    const until = p.cooldown('prod', MODEL, { reason: 'quota exhausted (429)', retryAfterMs: 5000 });
    expect(fake.published).toEqual([{ key: KEY, until }]);
    now.t = until + 1;
    const probe = await p.acquire(MODEL, undefined, new AbortController().signal);
    expect(probe?.probe).toBe(true);
    p.succeeded('prod', MODEL, 0);
    expect(fake.cleared).toEqual([{ key: KEY, startedAt: until + 1 }]);
  });

  it('sends nothing while coordination cannot be reached, and says why', async () => {
    const now = { t: T0 };
    const fake = fakeCoordinator();
    const p = pool(fake.coordinator, now);
    fake.setHealth({ ok: false, since: T0, reason: 'connect ECONNREFUSED 10.0.0.5:6379' });
    expect(p.availability(MODEL, undefined)).toEqual({
      state: 'waiting',
      until: undefined,
      reason: 'the coordination server redis://redis.internal:6379 cannot be reached (connect ECONNREFUSED 10.0.0.5:6379); nothing is sent until it is back',
    });
    expect(await p.acquire(MODEL, undefined, new AbortController().signal)).toBeUndefined();
  });

  it('rpd counted with the other runs: when they used the day, the project is out until the daily reset', async () => {
    const now = { t: T0 };
    const p = pool(fakeCoordinator({ counts: false }).coordinator, now, { default: { rpd: 100 } });
    expect(await p.acquire(MODEL, undefined, new AbortController().signal)).toBeUndefined();
    expect(p.availability(MODEL, undefined)).toMatchObject({ state: 'waiting', reason: 'every project is out of its daily quota' });
  });
});
