import { setMaxListeners } from 'node:events';
import type { GoogleGenAI } from '@google/genai';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Credentials, ProjectCredentials, Strategy } from '../../src/credentials/credentials.js';
import { ProjectPool, type Lease, type PersistedProjectState, type ProjectPoolOptions, type ProjectSnapshot } from '../../src/coordination/project-pool.js';
import { nextDailyReset } from '../../src/resilience/quota-day.js';
import { project } from '../helpers/project-credentials.js';

/**
 * The pool reads time through `options.now`, and its per-model limiters are Bottleneck limiters that
 * hop through setTimeout (and read Date.now) before a job starts. Faking those (and the monotonic
 * clock, so that the wall clock never seems to step) lets a lease be taken in fake time: `settle`
 * runs the hops (a few fake ms). The pool's clock is the same fake clock.
 */
const FAKED = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] as const;
const T0 = Date.UTC(2025, 5, 10, 12, 0, 0); // 05:00 Pacific (PDT, UTC-7): far from a daily reset
const SETTLE_MS = 100;
const BASE_MS = 30_000;
const MODEL = 'gemini-2.5-flash';

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKED], now: T0 });
});

afterEach(() => {
  vi.useRealTimers();
});

const settle = (ms = SETTLE_MS): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);

function credentials(projects: ProjectCredentials[], strategy: Strategy = 'round-robin'): Credentials {
  return { file: '/nowhere/credentials.yaml', strategy, projects };
}

function setup(projects: ProjectCredentials[] = [project('p1')], options: Partial<ProjectPoolOptions> & { strategy?: Strategy } = {}) {
  const clients: string[] = [];
  const snapshots: ProjectSnapshot[] = [];
  const { strategy, ...rest } = options;
  const pool = new ProjectPool(credentials(projects, strategy), {
    createClient: (p) => {
      clients.push(p.name);
      return { project: p.name } as unknown as GoogleGenAI;
    },
    now: () => Date.now(),
    onStateChange: (s) => snapshots.push(s),
    ...rest,
  });
  const signal = new AbortController().signal;
  // Each acquisition waiting for its limiter listens on the signal; these tests start a dozen at once.
  setMaxListeners(100, signal);
  /** Asks for a lease and lets the limiter run in fake time; 'pending' if none was granted by then. */
  const tryAcquire = async (model = MODEL, poolName?: string): Promise<Lease | undefined | 'pending'> => {
    let outcome: Lease | undefined | 'pending' = 'pending';
    void pool.acquire(model, poolName, signal).then((lease) => (outcome = lease));
    await settle();
    return outcome;
  };
  /** Many acquisitions at once (before any is granted). */
  const acquireMany = async (count: number, model = MODEL, poolName?: string): Promise<(Lease | undefined | 'pending')[]> => {
    const outcomes: (Lease | undefined | 'pending')[] = Array.from({ length: count }, () => 'pending');
    for (let i = 0; i < count; i++) void pool.acquire(model, poolName, signal).then((lease) => (outcomes[i] = lease));
    await settle();
    return outcomes;
  };
  return { pool, clients, snapshots, signal, tryAcquire, acquireMany };
}

function isLease(x: Lease | undefined | 'pending'): x is Lease {
  return typeof x === 'object';
}

/** Runs the microtasks a release queues (the probe's end). */
const microtasks = (): Promise<void> => new Promise((resolve) => queueMicrotask(resolve));

describe('ProjectPool: availability', () => {
  it('a healthy pool is ready, and acquire() lends a project with its client (not as a probe)', async () => {
    const { pool, tryAcquire, clients } = setup();
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    const lease = await tryAcquire();
    expect(isLease(lease)).toBe(true);
    if (!isLease(lease)) return;
    expect(lease.project.name).toBe('p1');
    expect(lease.probe).toBe(false);
    expect(lease.client).toEqual({ project: 'p1' });
    expect(clients).toEqual(['p1']);
    lease.release();
    lease.release(); // a second release is harmless
    expect(pool.snapshot()).toEqual([{ name: 'p1', state: 'active', requests: 1, rejected429: 0, costUsd: 0 }]);
    // The client is made once per project and reused.
    const again = await tryAcquire();
    expect(isLease(again) && again.client).toBe(isLease(lease) && lease.client);
    expect(clients).toEqual(['p1']);
    if (isLease(again)) again.release();
  });

  it('a pool with no project in it is unusable, naming the pool', async () => {
    const { pool, tryAcquire } = setup([project('p1', { pool: 'text' })]);
    expect(pool.availability(MODEL, 'images')).toEqual({ state: 'unusable', reason: 'no project belongs to pool "images"' });
    expect(await tryAcquire(MODEL, 'images')).toBeUndefined();
    expect(pool.availability(MODEL, 'text')).toEqual({ state: 'ready' });
  });

  it('a pool whose projects are all disabled is unusable, naming each project and why', () => {
    const { pool } = setup([project('p1', { enabled: false }), project('p2')]);
    pool.disable('p2', 'credential rejected (403 PERMISSION_DENIED)');
    expect(pool.availability(MODEL, undefined)).toEqual({
      state: 'unusable',
      reason: 'every project is disabled (p1: disabled in the credentials file; p2: credential rejected (403 PERMISSION_DENIED))',
    });
  });

  it('onlyProject: a project no longer in the credentials file is unusable', () => {
    const { pool } = setup([project('p1'), project('p2')]);
    expect(pool.availability(MODEL, undefined, 'p2')).toEqual({ state: 'ready' });
    pool.update(credentials([project('p1')]));
    expect(pool.availability(MODEL, undefined, 'p2')).toEqual({ state: 'unusable', reason: 'project "p2" is no longer in the credentials file' });
  });

  it('an aborted signal gets no lease', async () => {
    const { pool } = setup();
    const controller = new AbortController();
    controller.abort();
    let outcome: Lease | undefined | 'pending' = 'pending';
    void pool.acquire(MODEL, undefined, controller.signal).then((l) => (outcome = l));
    await settle();
    expect(outcome).toBeUndefined();
  });
});

describe('ProjectPool: cooldown and probe', () => {
  it('a 429 makes the pool wait until the cooldown ends; nothing is lent meanwhile', async () => {
    const { pool, tryAcquire, snapshots } = setup();
    const start = Date.now();
    const until = pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    expect(until).toBe(start + BASE_MS);
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'waiting', until, reason: 'every project is cooling down' });
    expect(snapshots.at(-1)).toMatchObject({ name: 'p1', state: 'cooling', until, reason: `${MODEL}: quota exhausted (429)`, rejected429: 1 });
    expect(await tryAcquire()).toBeUndefined();
    await settle(until - Date.now() - SETTLE_MS - 1); // to just before `until`
    expect(Date.now()).toBeLessThan(until - SETTLE_MS);
    expect(await tryAcquire()).toBeUndefined();
    expect(pool.availability(MODEL, undefined).state).toBe('waiting');
    // Another model of the same project is not affected: quotas are per project and model.
    const other = await tryAcquire('imagen-4.0-generate-001');
    expect(isLease(other) && other.probe).toBe(false);
    if (isLease(other)) other.release();
  });

  it('when the cooldown ends exactly one probe is lent; a second acquire while it is out gets nothing', async () => {
    const { pool, tryAcquire } = setup();
    const until = pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    await settle(until - Date.now());
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    const probe = await tryAcquire();
    expect(isLease(probe) && probe.probe).toBe(true);
    expect(await tryAcquire()).toBeUndefined();
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'waiting', until: undefined, reason: 'waiting for a probe' });
    expect(pool.snapshot()[0]).toMatchObject({ state: 'probing' });
    if (isLease(probe)) probe.release();
  });

  it('a probe that succeeds closes the breaker: full speed again (several leases at once, none a probe)', async () => {
    const { pool, tryAcquire, acquireMany, snapshots } = setup();
    const until = pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    await settle(until - Date.now());
    const probe = await tryAcquire();
    if (!isLease(probe)) throw new Error(`expected a probe lease, got ${String(probe)}`);
    // As the executor does: release the lease, then report the success.
    probe.release();
    pool.succeeded('p1', MODEL, 0.01);
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    expect(snapshots.at(-1)).toMatchObject({ name: 'p1', state: 'active', costUsd: 0.01 });
    const leases = await acquireMany(5);
    expect(leases.every(isLease)).toBe(true);
    expect(leases.filter(isLease).map((l) => l.probe)).toEqual([false, false, false, false, false]);
    leases.filter(isLease).forEach((l) => l.release());
  });

  it('a probe that fails (another 429) doubles the cooldown, and again', async () => {
    const { pool, tryAcquire } = setup();
    const first = pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    expect(first - Date.now()).toBe(BASE_MS);
    await settle(first - Date.now());
    const probe = await tryAcquire();
    if (!isLease(probe) || !probe.probe) throw new Error('expected a probe');
    probe.release();
    const second = pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    expect(second - Date.now()).toBe(2 * BASE_MS);
    await microtasks();
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'waiting', until: second, reason: 'every project is cooling down' });
    expect(await tryAcquire()).toBeUndefined();
    await settle(second - Date.now());
    const probe2 = await tryAcquire();
    if (!isLease(probe2) || !probe2.probe) throw new Error('expected a second probe');
    probe2.release();
    const third = pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    expect(third - Date.now()).toBe(4 * BASE_MS);
  });

  it('a Retry-After is used instead of the computed cooldown', () => {
    const { pool } = setup();
    const until = pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)', retryAfterMs: 7_000 });
    expect(until).toBe(Date.now() + 7_000);
    expect(pool.availability(MODEL, undefined)).toMatchObject({ state: 'waiting', until });
  });

  it('a probe that ends without a verdict (network error) lets another probe through', async () => {
    const { pool, tryAcquire } = setup();
    const until = pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    await settle(until - Date.now());
    const probe = await tryAcquire();
    if (!isLease(probe) || !probe.probe) throw new Error('expected a probe');
    probe.release(); // neither succeeded() nor cooldown()
    await microtasks();
    const next = await tryAcquire();
    expect(isLease(next) && next.probe).toBe(true);
    if (isLease(next)) next.release();
  });

  it('an acquire waiting for its limiter gets nothing if the project cools down meanwhile', async () => {
    // (A declared rate, as elsewhere in this file: without one the 429 would teach the limiter a pace.)
    const { pool, tryAcquire } = setup([project('p1', { quotas: { default: { concurrency: 1, rpm: 60_000 } } })]);
    const first = await tryAcquire();
    if (!isLease(first)) throw new Error('expected a lease');
    // The second waits for the limiter's only slot.
    const second = await tryAcquire();
    expect(second).toBe('pending');
    let outcome: Lease | undefined | 'pending' = 'pending';
    void pool.acquire(MODEL, undefined, new AbortController().signal).then((l) => (outcome = l));
    await settle();
    expect(outcome).toBe('pending');
    // The first call gets a 429 and ends: the waiting ones must not be sent to a cooling project.
    pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    first.release();
    await settle();
    expect(outcome).toBeUndefined();
    expect(pool.snapshot()[0]).toMatchObject({ state: 'cooling', requests: 1 });
  });

  it('with two projects, one cooling down, the other takes every call', async () => {
    const { pool, acquireMany } = setup([project('p1'), project('p2')]);
    pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    const leases = await acquireMany(4);
    expect(leases.filter(isLease).map((l) => l.project.name)).toEqual(['p2', 'p2', 'p2', 'p2']);
    leases.filter(isLease).forEach((l) => l.release());
  });

  it('when every project cools down, availability waits until the earliest comes back', () => {
    const { pool } = setup([project('p1'), project('p2')]);
    pool.cooldown('p1', MODEL, { reason: '429', retryAfterMs: 50_000 });
    const earliest = pool.cooldown('p2', MODEL, { reason: '429', retryAfterMs: 20_000 });
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'waiting', until: earliest, reason: 'every project is cooling down' });
  });
});

describe('ProjectPool: daily quota', () => {
  it('a per-day 429 makes the pool wait, for the daily quota, until the next Pacific midnight', async () => {
    const { pool, tryAcquire, snapshots } = setup();
    const until = pool.cooldown('p1', MODEL, { reason: 'daily quota exhausted', perDay: true });
    expect(until).toBe(nextDailyReset(Date.now()));
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'waiting', until, reason: 'every project is out of its daily quota', daily: true });
    expect(snapshots.at(-1)).toMatchObject({ state: 'exhausted', until });
    expect(pool.persistable()).toEqual([{ project: 'p1', model: MODEL, state: 'exhausted', until, reason: 'daily quota exhausted' }]);
    await settle(60 * 60_000);
    expect(await tryAcquire()).toBeUndefined();
  });

  it('rpd reached: the project is exhausted until the next reset, then takes calls again', async () => {
    const { pool, tryAcquire } = setup([project('p1', { quotas: { default: { rpm: 60_000, rpd: 2 } } })]);
    for (let i = 0; i < 2; i++) {
      const lease = await tryAcquire();
      if (!isLease(lease)) throw new Error(`lease ${i} expected`);
      lease.release();
      pool.succeeded('p1', MODEL, 0);
    }
    const reset = nextDailyReset(Date.now());
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'waiting', until: reset, reason: 'every project is out of its daily quota', daily: true });
    expect(await tryAcquire()).toBeUndefined();
    expect(pool.snapshot()[0]).toMatchObject({ state: 'exhausted', until: reset, reason: `${MODEL}: rpd 2 reached` });
    // After the reset, the day's count starts again (one probe first, then full speed).
    vi.setSystemTime(reset);
    const probe = await tryAcquire();
    expect(isLease(probe) && probe.probe).toBe(true);
    if (isLease(probe)) probe.release();
    pool.succeeded('p1', MODEL, 0);
    const next = await tryAcquire();
    expect(isLease(next) && next.probe).toBe(false);
    if (isLease(next)) next.release();
  });

  it('rpd counts the requests already made today (from the ledger)', async () => {
    const asked: string[] = [];
    const { pool, tryAcquire } = setup([project('p1', { quotas: { default: { rpd: 5 } } }), project('p2', { quotas: { default: { rpd: 5 } } })], {
      requestsToday: (p, m) => {
        asked.push(`${p}/${m}`);
        return p === 'p1' ? 5 : 4;
      },
    });
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    const lease = await tryAcquire();
    expect(isLease(lease) && lease.project.name).toBe('p2');
    if (isLease(lease)) lease.release();
    expect(pool.availability(MODEL, undefined)).toMatchObject({ state: 'waiting', reason: 'every project is out of its daily quota' });
    expect(asked).toContain(`p1/${MODEL}`);
  });
});

describe('ProjectPool: saved health is a hint, not a verdict', () => {
  const saved = (over: Partial<PersistedProjectState> = {}): PersistedProjectState => ({
    project: 'p1',
    model: MODEL,
    state: 'cooling',
    until: T0 + 10 * 60_000,
    reason: 'quota exhausted (429)',
    ...over,
  });

  it('a restored (project, model) lets one probe through at once, though its saved until is in the future', async () => {
    const { pool, tryAcquire } = setup();
    pool.restore([saved()]);
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    expect(pool.snapshot()[0]).toMatchObject({ state: 'probing', reason: `${MODEL}: quota exhausted (429) (from the previous run)` });
    const probe = await tryAcquire();
    expect(isLease(probe) && probe.probe).toBe(true);
    expect(await tryAcquire()).toBeUndefined();
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'waiting', until: undefined, reason: 'waiting for a probe' });
    if (isLease(probe)) probe.release();
  });

  it('the probe succeeds: the project is active, at full speed', async () => {
    const { pool, tryAcquire, acquireMany } = setup();
    pool.restore([saved()]);
    const probe = await tryAcquire();
    if (!isLease(probe) || !probe.probe) throw new Error('expected a probe');
    probe.release();
    pool.succeeded('p1', MODEL, 0);
    expect(pool.snapshot()[0]).toMatchObject({ state: 'active' });
    expect(pool.persistable()).toEqual([]);
    const leases = await acquireMany(3);
    expect(leases.filter(isLease).map((l) => l.probe)).toEqual([false, false, false]);
    leases.filter(isLease).forEach((l) => l.release());
  });

  it('the probe gets a 429: the saved state holds again, until the saved until', async () => {
    const { pool, tryAcquire } = setup();
    pool.restore([saved()]);
    const probe = await tryAcquire();
    if (!isLease(probe) || !probe.probe) throw new Error('expected a probe');
    probe.release();
    const until = pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    expect(until).toBe(T0 + 10 * 60_000); // later than now + 30 s
    await microtasks();
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'waiting', until, reason: 'every project is cooling down' });
    await settle(until - Date.now() - SETTLE_MS - 1);
    expect(await tryAcquire()).toBeUndefined();
    await settle(SETTLE_MS);
    const next = await tryAcquire();
    expect(isLease(next) && next.probe).toBe(true);
    if (isLease(next)) next.release();
  });

  it('a restored daily exhaustion whose probe gets a 429 is exhausted again until the saved reset', async () => {
    const reset = nextDailyReset(T0);
    const { pool, tryAcquire } = setup();
    pool.restore([saved({ state: 'exhausted', until: reset, reason: 'daily quota exhausted' })]);
    const probe = await tryAcquire();
    if (!isLease(probe) || !probe.probe) throw new Error('expected a probe');
    probe.release();
    pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'waiting', until: reset, reason: 'every project is out of its daily quota', daily: true });
  });

  it('never more than one probe per (project, model) at run start, however many ask at once', async () => {
    const { pool, acquireMany } = setup([project('p1'), project('p2')]);
    pool.restore([saved({ project: 'p1' }), saved({ project: 'p2' }), saved({ project: 'p1', model: 'imagen-4.0-generate-001' })]);
    const outcomes = await acquireMany(12);
    expect(outcomes).not.toContain('pending');
    const leases = outcomes.filter(isLease);
    expect(leases.map((l) => l.project.name).sort()).toEqual(['p1', 'p2']);
    expect(leases.every((l) => l.probe)).toBe(true);
    // The other model: p1's own probe, plus p2 unrestored (not a probe) for as many as ask.
    const images = await acquireMany(6, 'imagen-4.0-generate-001');
    const imageLeases = images.filter(isLease);
    expect(imageLeases.filter((l) => l.probe).map((l) => l.project.name)).toEqual(['p1']);
    expect(imageLeases.filter((l) => l.project.name === 'p1')).toHaveLength(1);
    [...leases, ...imageLeases].forEach((l) => l.release());
  });

  it('restore() ignores saved states already over, and projects no longer in the file', () => {
    const { pool } = setup();
    pool.restore([saved({ until: T0 - 1 }), saved({ project: 'gone' })]);
    expect(pool.snapshot()).toEqual([{ name: 'p1', state: 'active', requests: 0, rejected429: 0, costUsd: 0 }]);
    expect(pool.persistable()).toEqual([]);
  });

  it('persistable() round-trips: restored and not yet probed, the hint is saved again as it was', () => {
    const first = setup([project('p1'), project('p2')]);
    const cooling = first.pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)', retryAfterMs: 90_000 });
    const exhausted = first.pool.cooldown('p2', 'imagen-4.0-generate-001', { reason: 'daily quota exhausted', perDay: true });
    const states = first.pool.persistable();
    expect(states).toEqual([
      { project: 'p1', model: MODEL, state: 'cooling', until: cooling, reason: 'quota exhausted (429)' },
      { project: 'p2', model: 'imagen-4.0-generate-001', state: 'exhausted', until: exhausted, reason: 'daily quota exhausted' },
    ]);
    const second = setup([project('p1'), project('p2')]);
    second.pool.restore(JSON.parse(JSON.stringify(states)) as PersistedProjectState[]);
    expect(second.pool.persistable()).toEqual(states);
    // And through a third run, the reason does not pile up "(from the previous run)".
    const third = setup([project('p1'), project('p2')]);
    third.pool.restore(second.pool.persistable());
    expect(third.pool.persistable()).toEqual(states);
    expect(third.pool.snapshot()[0]?.reason).toBe(`${MODEL}: quota exhausted (429) (from the previous run)`);
  });

  it('persistable() forgets a cooldown that is over', async () => {
    const { pool } = setup();
    const until = pool.cooldown('p1', MODEL, { reason: '429' });
    expect(pool.persistable()).toHaveLength(1);
    await settle(until - Date.now());
    expect(pool.persistable()).toEqual([]);
  });
});

describe('ProjectPool: disable, membership, update', () => {
  it('disable() takes the project out for the run: unusable, no lease, and the snapshot says why', async () => {
    const { pool, tryAcquire, snapshots } = setup();
    pool.disable('p1', 'credential rejected (401)');
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'unusable', reason: 'every project is disabled (p1: credential rejected (401))' });
    expect(await tryAcquire()).toBeUndefined();
    expect(snapshots.at(-1)).toMatchObject({ name: 'p1', state: 'disabled', reason: 'credential rejected (401)' });
    // A second disable keeps the first reason.
    pool.disable('p1', 'something else');
    expect(pool.snapshot()[0]?.reason).toBe('credential rejected (401)');
  });

  it('disabling one of two projects leaves the other serving', async () => {
    const { pool, acquireMany } = setup([project('p1'), project('p2')]);
    pool.disable('p1', 'credential rejected (403)');
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    const leases = await acquireMany(3);
    expect(leases.filter(isLease).map((l) => l.project.name)).toEqual(['p2', 'p2', 'p2']);
    leases.filter(isLease).forEach((l) => l.release());
  });

  it('pool membership: a lease for a pool only comes from projects of that pool; no pool name means any', async () => {
    const { pool, acquireMany } = setup([project('t1', { pool: 'text' }), project('i1', { pool: 'images' }), project('t2', { pool: 'text' })]);
    const text = await acquireMany(4, MODEL, 'text');
    expect(new Set(text.filter(isLease).map((l) => l.project.name))).toEqual(new Set(['t1', 't2']));
    const images = await acquireMany(3, MODEL, 'images');
    expect(images.filter(isLease).map((l) => l.project.name)).toEqual(['i1', 'i1', 'i1']);
    const any = await acquireMany(6, MODEL, undefined);
    expect(new Set(any.filter(isLease).map((l) => l.project.name))).toEqual(new Set(['t1', 'i1', 't2']));
    [...text, ...images, ...any].filter(isLease).forEach((l) => l.release());
    // A cooldown of the images project does not touch the text pool.
    pool.cooldown('i1', MODEL, { reason: '429' });
    expect(pool.availability(MODEL, 'images').state).toBe('waiting');
    expect(pool.availability(MODEL, 'text').state).toBe('ready');
    expect(pool.availability(MODEL, 'video')).toEqual({ state: 'unusable', reason: 'no project belongs to pool "video"' });
  });

  it('update() adds and removes projects: new ones serve at once, removed ones take no new calls', async () => {
    const { pool, tryAcquire, acquireMany } = setup([project('p1')]);
    pool.cooldown('p1', MODEL, { reason: '429' });
    expect(pool.availability(MODEL, undefined).state).toBe('waiting');
    const change = pool.update(credentials([project('p1'), project('p2')]));
    expect(change).toEqual({ added: ['p2'], removed: [], changed: [] });
    // p1 keeps its health (unchanged), p2 serves.
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    const lease = await tryAcquire();
    expect(isLease(lease) && lease.project.name).toBe('p2');
    if (isLease(lease)) lease.release();
    expect(pool.update(credentials([project('p1')]))).toEqual({ added: [], removed: ['p2'], changed: [] });
    expect(pool.snapshot().map((s) => s.name)).toEqual(['p1']);
    expect(pool.availability(MODEL, undefined).state).toBe('waiting');
    expect(await tryAcquire()).toBeUndefined();
    // Re-added: a fresh project.
    expect(pool.update(credentials([project('p1'), project('p2')]))).toEqual({ added: ['p2'], removed: [], changed: [] });
    const back = await acquireMany(2);
    expect(back.filter(isLease).map((l) => l.project.name)).toEqual(['p2', 'p2']);
    back.filter(isLease).forEach((l) => l.release());
  });

  it('update(): a changed connection gets a new client and a disabled (403) project a fresh chance', async () => {
    const { pool, tryAcquire, clients } = setup([project('p1')]);
    const first = await tryAcquire();
    if (isLease(first)) first.release();
    pool.disable('p1', 'credential rejected (403)');
    expect(pool.availability(MODEL, undefined).state).toBe('unusable');
    // Limits only: still disabled.
    expect(pool.update(credentials([project('p1', { quotas: { default: { rpm: 30_000 } } })]))).toEqual({ added: [], removed: [], changed: ['p1'] });
    expect(pool.availability(MODEL, undefined).state).toBe('unusable');
    // A new key: tried again, with a new client.
    pool.update(credentials([project('p1', { auth: { kind: 'api_key', apiKey: 'new-key', source: 'file' } })]));
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    const lease = await tryAcquire();
    expect(isLease(lease)).toBe(true);
    if (isLease(lease)) lease.release();
    expect(clients).toEqual(['p1', 'p1']);
    // enabled: false in the file disables it; back to true enables it.
    pool.update(credentials([project('p1', { auth: { kind: 'api_key', apiKey: 'new-key', source: 'file' }, enabled: false })]));
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'unusable', reason: 'every project is disabled (p1: disabled in the credentials file)' });
    pool.update(credentials([project('p1', { auth: { kind: 'api_key', apiKey: 'new-key', source: 'file' } })]));
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
  });

  it('clientFor() makes a project client once, for polling; unknown projects have none', () => {
    const { pool, clients } = setup([project('p1')]);
    const client = pool.clientFor('p1');
    expect(client).toEqual({ project: 'p1' });
    expect(pool.clientFor('p1')).toBe(client);
    expect(pool.clientFor('nope')).toBeUndefined();
    expect(clients).toEqual(['p1']);
  });

  it('strategies: fill-first always picks the first ready project; round-robin takes turns', async () => {
    const fill = setup([project('p1'), project('p2')], { strategy: 'fill-first' });
    const a = await fill.acquireMany(3);
    expect(a.filter(isLease).map((l) => l.project.name)).toEqual(['p1', 'p1', 'p1']);
    a.filter(isLease).forEach((l) => l.release());
    const rr = setup([project('p1'), project('p2')]);
    const b: string[] = [];
    for (let i = 0; i < 4; i++) {
      const lease = await rr.tryAcquire();
      if (isLease(lease)) {
        b.push(lease.project.name);
        lease.release();
      }
    }
    expect(b).toEqual(['p1', 'p2', 'p1', 'p2']);
  });
});

describe('ProjectPool: changed()', () => {
  /** Whether the promise resolves once pending microtasks have run. */
  async function resolvedNow(p: Promise<void>): Promise<boolean> {
    let done = false;
    void p.then(() => (done = true));
    await microtasks();
    await microtasks();
    return done;
  }

  it('does not resolve while nothing changes', async () => {
    const { pool } = setup();
    expect(await resolvedNow(pool.changed())).toBe(false);
  });

  it('resolves on a cooldown, a success that closes a breaker, a disable, an update and a release', async () => {
    const { pool, tryAcquire } = setup([project('p1'), project('p2')]);
    let signal = pool.changed();
    pool.cooldown('p1', MODEL, { reason: '429' });
    expect(await resolvedNow(signal)).toBe(true);

    const lease = await tryAcquire();
    signal = pool.changed();
    if (isLease(lease)) lease.release();
    expect(await resolvedNow(signal)).toBe(true);

    signal = pool.changed();
    pool.disable('p2', 'credential rejected');
    expect(await resolvedNow(signal)).toBe(true);

    signal = pool.changed();
    pool.update(credentials([project('p1'), project('p2'), project('p3')]));
    expect(await resolvedNow(signal)).toBe(true);

    // The cooldown of p1 ends: the breaker goes half-open when looked at, and says so.
    await settle(BASE_MS);
    signal = pool.changed();
    expect(pool.availability(MODEL, undefined).state).toBe('ready');
    expect(await resolvedNow(signal)).toBe(true);
  });
});

describe('ProjectPool: shared capacity (a Vertex Gemini model with no declared quota)', () => {
  const shared = (name: string, over: Partial<ProjectCredentials> = {}) => project(name, { quotas: {}, ...over });

  it('every project of one location shares one window; when it is full the pool waits on shared capacity, naming model and location', async () => {
    const { pool, acquireMany } = setup([shared('p1'), shared('p2'), shared('p3')]);
    const leases = (await acquireMany(6)).filter(isLease);
    // The window starts at 4 calls in flight for gemini-2.5-flash in us-central1, whatever the projects.
    expect(leases).toHaveLength(4);
    expect(new Set(leases.map((l) => l.project.name)).size).toBe(3);
    expect(pool.availability(MODEL, undefined)).toEqual({
      state: 'waiting',
      until: undefined,
      reason: 'waiting on shared capacity of gemini-2.5-flash in us-central1 (window 4, 4 in flight)',
      sharedCapacity: true,
    });
    leases[0]?.release(undefined, 'success');
    expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
    expect(pool.capacityWindows()).toEqual([
      { model: MODEL, location: 'us-central1', limit: 5, inFlight: 3, successes: 1, refusals: 0, timeouts: 0, refusedShare: 0 },
    ]);
  });

  it('a shared 429 cools no project down; a 429 naming a quota, or declared limits, keep the per-project cooldown', async () => {
    const { pool } = setup([shared('p1'), shared('g', { api: 'gemini' }), shared('f', { quotaKind: 'fixed' }), project('d')]);
    const bare = Object.assign(new Error('429'), { perDay: false, namesQuota: false }) as never;
    const named = Object.assign(new Error('429'), { perDay: false, namesQuota: true }) as never;
    expect(pool.quotaKindOf429('p1', MODEL, bare)).toBe('shared');
    expect(pool.quotaKindOf429('p1', MODEL, named)).toBe('fixed');
    expect(pool.quotaKindOf429('p1', 'imagen-4.0-generate-001', bare)).toBe('fixed');
    expect(pool.quotaKindOf429('g', MODEL, bare)).toBe('fixed');
    expect(pool.quotaKindOf429('f', MODEL, bare)).toBe('fixed');
    expect(pool.quotaKindOf429('d', MODEL, bare)).toBe('fixed');
    expect(pool.capacityRefused('p1', MODEL)).toBe('shared capacity of gemini-2.5-flash in us-central1');
    expect(pool.snapshot()[0]).toEqual({ name: 'p1', state: 'active', requests: 0, rejected429: 1, costUsd: 0 });
  });

  it('each location has its own window (global and a region)', async () => {
    const { pool, acquireMany } = setup([shared('r'), shared('g', { location: 'global' })]);
    const leases = (await acquireMany(10)).filter(isLease);
    expect(leases).toHaveLength(8);
    expect(pool.capacityWindows().map((w) => [w.location, w.inFlight])).toEqual([
      ['us-central1', 4],
      ['global', 4],
    ]);
  });
});

describe('ProjectPool: a model is resolved once per project into a route that flows down', () => {
  it('the route (limits, kind, keys, whether the API serves the model) is resolved once, however often the pool is asked', async () => {
    const asked: string[] = [];
    const serves = (p: ProjectCredentials, model: string): boolean => {
      asked.push(`${p.name}/${model}`);
      return true;
    };
    const { pool, tryAcquire } = setup([project('p1'), project('p2')], { serves });
    for (let i = 0; i < 5; i++) {
      expect(pool.availability(MODEL, undefined)).toEqual({ state: 'ready' });
      const lease = await tryAcquire();
      if (!isLease(lease)) throw new Error('no lease');
      lease.release();
      pool.succeeded(lease.project.name, MODEL, 0);
    }
    expect(asked.sort()).toEqual([`p1/${MODEL}`, `p2/${MODEL}`]);
  });

  it('a lease carries its resolved route: limits, kind of quota and the keys every run shares', async () => {
    const { tryAcquire } = setup([project('p1', { quotas: { default: { rpm: 60_000, rpd: 1000 } } })]);
    const lease = await tryAcquire();
    if (!isLease(lease)) throw new Error('no lease');
    expect(lease.route).toMatchObject({
      project: 'p1',
      model: MODEL,
      location: 'us-central1',
      limits: { rpm: 60_000, rpd: 1000 },
      kind: 'fixed',
      quotaKey: `vertex|gcp-p1|us-central1|${MODEL}`,
      windowKey: undefined,
    });
    lease.release();
  });

  it('a changed entry is resolved again: `quota: shared` puts its calls in the shared window, and its breaker keeps its health', async () => {
    const { pool, tryAcquire } = setup([project('p1'), project('p2')]);
    pool.cooldown('p1', MODEL, { reason: 'quota exhausted (429)' });
    const bare = Object.assign(new Error('429'), { perDay: false, namesQuota: false }) as never;
    expect(pool.quotaKindOf429('p2', MODEL, bare)).toBe('fixed');
    pool.update(credentials([project('p1', { quotaKind: 'shared' }), project('p2', { quotaKind: 'shared' })]));
    expect(pool.quotaKindOf429('p2', MODEL, bare)).toBe('shared');
    expect(pool.snapshot()[0]).toMatchObject({ name: 'p1', state: 'cooling' });
    const lease = await tryAcquire();
    if (!isLease(lease)) throw new Error('no lease');
    expect(lease.route).toMatchObject({ project: 'p2', kind: 'shared', kindForced: true });
    expect(pool.capacityWindows()).toEqual([expect.objectContaining({ model: MODEL, location: 'us-central1', inFlight: 1 })]);
    lease.release(undefined, 'success');
  });
});
