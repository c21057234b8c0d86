import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import Bottleneck from 'bottleneck';
import { Redis, type RedisOptions } from 'ioredis';
import { whenAborted } from '../resilience/backoff.js';
import {
  CoordinationLostError,
  utcDay,
  type BudgetTotals,
  type CoordinationEvent,
  type CoordinationHealth,
  type Coordinator,
  type SharedBudgetBackend,
  type SharedCooldown,
  type SharedLimiterHooks,
  type SharedRun,
  type SharedRunInfo,
  type SharedWindows,
} from './coordinator.js';
import { CHANGE_WINDOW, CLEAR_COOLDOWN, COUNT_REQUEST, RESERVE_BUDGET, SEED_BUDGET, SETTLE_BUDGET, SET_COOLDOWN } from './redis-scripts.js';
import { SpendJournal } from '../store/spend-journal.js';

const PREFIX = 'genbatch:';
const COOLDOWNS = `${PREFIX}cooldowns`;
const RUNS = `${PREFIX}runs`;
/** What Redis holds began with an empty Redis: a new epoch after a restart or a flush (see SpendJournal). */
const EPOCH = `${PREFIX}epoch`;
/** Days of budgets put back from a host's journal (Redis keeps them as long). */
const SEED_DAYS = 8;
/** How often this process's runs say they are alive, and after how long without that they are gone. */
const HEARTBEAT_MS = 5000;
const STALE_MS = 30_000;
/** Budget keys outlive their day, so `cost --all` can show the last few days. */
const BUDGET_TTL_MS = 8 * 86_400_000;
/** A call longer than this no longer holds a place among the calls in flight (a process killed mid-call gives its places back then). */
const CLUSTERED_EXPIRATION_MS = 15 * 60_000;
/** A window's state is read again after this long; changed at most this many times in a row against other processes' changes; kept this long unused. */
const WINDOW_FRESH_MS = 20;
const WINDOW_ATTEMPTS = 50;
const WINDOW_TTL_MS = 3_600_000;
/** How often a Redis that refused work (out of memory…) is tried again. */
const REFUSAL_RETRY_MS = 1000;

/** Why Redis refuses work for a while, from its error reply; undefined for any other error. */
export function redisRefusal(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : '';
  if (/^OOM\b/.test(message)) return `Redis is out of memory (maxmemory reached; it refuses writes): ${message.replace(/\. script: .*$/s, '')}`;
  if (/^(LOADING|READONLY|MISCONF|BUSY|NOREPLICAS|MASTERDOWN)\b/.test(message)) return `Redis refuses work: ${message.replace(/\. script: .*$/s, '')}`;
  return undefined;
}

interface ScriptClient {
  genbatchReserve(k1: string, k2: string, k3: string, ...args: (string | number)[]): Promise<[number, number, number, string]>;
  genbatchSettle(k1: string, k2: string, k3: string, ...args: (string | number)[]): Promise<[number, number, string]>;
  genbatchSeed(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  genbatchCount(k1: string, ...args: (string | number)[]): Promise<[number, number]>;
  genbatchSetCooldown(k1: string, ...args: (string | number)[]): Promise<number>;
  genbatchClearCooldown(k1: string, ...args: (string | number)[]): Promise<number>;
  genbatchChangeWindow(k1: string, ...args: (string | number)[]): Promise<[number, string?, string?]>;
}

/** Connection options from `redis://[user:password@]HOST:PORT[/DB]` (`rediss://` for TLS). */
export function redisOptions(url: string): RedisOptions {
  const parsed = new URL(url);
  const db = Number(parsed.pathname.replace(/^\//, '') || '0');
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port || '6379'),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    // Commands wait while Redis is away (callers give up through lostSignal); reconnects go on, at most every 2 s.
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    connectTimeout: 3000,
  };
}

/**
 * Bottleneck 2.19 recognises the errors of its Lua scripts by their exact text; Redis 7 prefixes them
 * with "ERR " (bottleneck issue #205), so after Redis lost its keys (a restart) every limiter would fail
 * for good instead of setting itself up again. The prefix is taken off before Bottleneck looks.
 */
function acceptRedis7ScriptErrors(connection: Bottleneck.IORedisConnection): void {
  const internal = connection as unknown as { __scriptFn__(name: string): (...args: unknown[]) => unknown };
  const scriptFn = internal.__scriptFn__.bind(connection);
  internal.__scriptFn__ = (name: string) => {
    const fn = scriptFn(name);
    return (...args: unknown[]) => {
      const callback = args.pop() as (error: Error | null, replies: unknown) => void;
      return fn(...args, (error: Error | null, replies: unknown) => {
        if (error && /^ERR (SETTINGS_KEY_NOT_FOUND|UNKNOWN_CLIENT)$/.test(error.message)) error.message = error.message.slice(4);
        callback(error, replies);
      });
    };
  };
}

/**
 * Coordination across hosts through Redis (`coordination: redis://HOST:PORT`): declared limits are
 * Bottleneck limiters clustered on Redis (one id per quota key, the same on every host), cooldowns a
 * hash plus a channel every process listens to, budgets and daily request counts Lua scripts. When
 * Redis cannot be reached nothing is sent (health says why) until it is back; there is no fall back
 * to unshared limits.
 */
export class RedisCoordinator implements Coordinator {
  readonly kind = 'redis';
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private bottleneck: Bottleneck.IORedisConnection | undefined;
  private readonly listeners = new Set<(event: CoordinationEvent) => void>();
  private readonly mirror = new Map<string, SharedCooldown>();
  private readonly received = new Map<string, number>();
  private readonly daily = new Map<string, { resetAt: number; count: number; readAt: number }>();
  private readonly runsJoined = new Map<string, string>();
  private readonly liveHolders = new Set<string>();
  private state: CoordinationHealth;
  private lost = new AbortController();
  private lastError: string | undefined;
  private readonly ready = { client: false, subscriber: false };
  /**
   * Whether the cooldowns in force were read since the last (re)connection: until they are, this
   * process is not healthy, so a run never sends a call to a project another run is cooling down.
   */
  private synced = false;
  private syncing = false;
  /** Counts connections lost, so that a read begun before a loss is not taken for one after it. */
  private losses = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  /** This host's durable record of what it booked in shared budgets here (none for a read-only view such as `status`). */
  private readonly journal: SpendJournal | undefined;

  constructor(
    url: string,
    readonly where: string,
    journalOptions: { journalFile?: string } = {},
  ) {
    this.journal = journalOptions.journalFile === undefined ? undefined : SpendJournal.open(journalOptions.journalFile);
    const options = redisOptions(url);
    this.state = { ok: false, since: Date.now(), reason: 'connecting' };
    this.lost.abort();
    this.client = new Redis(options);
    this.subscriber = new Redis(options);
    const scripts: [string, string, number][] = [
      ['genbatchReserve', RESERVE_BUDGET, 3],
      ['genbatchSettle', SETTLE_BUDGET, 3],
      ['genbatchCount', COUNT_REQUEST, 1],
      ['genbatchSetCooldown', SET_COOLDOWN, 1],
      ['genbatchClearCooldown', CLEAR_COOLDOWN, 1],
      ['genbatchChangeWindow', CHANGE_WINDOW, 1],
    ];
    for (const [name, lua, numberOfKeys] of scripts) this.client.defineCommand(name, { lua, numberOfKeys });
    // Its keys vary in number (a budget and its holds per day put back): given with each call.
    this.client.defineCommand('genbatchSeed', { lua: SEED_BUDGET });
    for (const [role, redis] of [
      ['client', this.client],
      ['subscriber', this.subscriber],
    ] as const) {
      redis.on('error', (error: Error) => {
        this.lastError = error.message;
      });
      redis.on('ready', () => {
        this.ready[role] = true;
        if (this.ready.client && this.ready.subscriber && !this.syncing) void this.resync();
      });
      for (const event of ['close', 'reconnecting', 'end']) {
        redis.on(event, () => {
          this.ready[role] = false;
          this.synced = false;
          this.losses++;
          this.judge();
        });
      }
    }
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === COOLDOWNS) this.receive(message);
    });
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private get scripts(): ScriptClient {
    return this.client as unknown as ScriptClient;
  }

  /** Healthy when both connections are ready and the cooldowns were read; the moment either is lost, waits give up (lostSignal). */
  private judge(): void {
    const up = this.ready.client && this.ready.subscriber && this.synced;
    if (up === this.state.ok) return;
    if (up) {
      this.state = { ok: true };
      this.lost = new AbortController();
    } else {
      this.state = { ok: false, since: Date.now(), reason: this.lastError ?? 'connection closed' };
      this.lost.abort();
    }
    for (const listener of this.listeners) listener({ kind: 'health', health: this.state });
  }

  health(): CoordinationHealth {
    if (!this.state.ok && this.lastError !== undefined && this.state.reason !== this.lastError) this.state = { ...this.state, reason: this.lastError };
    return this.state;
  }

  lostSignal(): AbortSignal {
    return this.lost.signal;
  }

  /** Resolves once connected, or after `timeoutMs` (then health says why not). */
  async whenReady(timeoutMs: number): Promise<void> {
    if (this.state.ok) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const off = this.onEvent((event) => {
        if (event.kind === 'health' && event.health.ok) done();
      });
      function done(): void {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  }

  onEvent(listener: (event: CoordinationEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Redis answers but refuses work (out of memory, loading, a read-only replica): as good as lost
   * until it takes writes again. Runs wait and say why; a resync every second finds when it does.
   */
  private refused(reason: string): void {
    this.lastError = reason;
    this.synced = false;
    this.judge();
    if (this.refusalRetry || this.closed) return;
    this.refusalRetry = setInterval(() => {
      if (this.synced || this.closed) {
        clearInterval(this.refusalRetry);
        this.refusalRetry = undefined;
        return;
      }
      if (!this.syncing && this.ready.client && this.ready.subscriber) void this.resync();
    }, REFUSAL_RETRY_MS);
    this.refusalRetry.unref();
  }

  private refusalRetry: NodeJS.Timeout | undefined;

  /** A Redis call that gives up (CoordinationLostError) when Redis is lost, or refuses work, instead of waiting for it. */
  private async guarded<T>(work: () => Promise<T>): Promise<T> {
    const health = this.health();
    if (!health.ok) throw new CoordinationLostError(this.where, health.reason);
    const lost = whenAborted(this.lost.signal);
    try {
      const result = await Promise.race(([work(), lost.promise] as const).map((p) => p.catch((error: unknown) => this.asLost(error))));
      if (result === 'aborted')
        throw new CoordinationLostError(this.where, this.health().ok ? 'connection lost' : (this.health() as { reason: string }).reason);
      return result as T;
    } finally {
      lost.dispose();
    }
  }

  /**
   * Every (re)connection listens for cooldowns, then reads those in force (so none recorded while away,
   * or in between, is missed), with the runs going, so that a cooldown left by a process that is gone
   * is known for one. Only then is this process healthy.
   */
  private async resync(): Promise<void> {
    this.syncing = true;
    const losses = this.losses;
    try {
      await this.subscriber.subscribe(COOLDOWNS);
      const [runs, all] = await Promise.all([this.client.hgetall(RUNS), this.client.hgetall(COOLDOWNS)]);
      this.noteLive(runs);
      for (const record of Object.values(all)) this.receive(record, false);
      await this.putBackSpend();
      if (losses === this.losses) this.synced = true;
    } catch (error) {
      const refusal = redisRefusal(error);
      // Redis answers but refuses (out of memory, say): tried again every second; meanwhile nothing is spent.
      if (refusal !== undefined) this.refused(refusal);
      else this.lastError = (error as Error).message;
    } finally {
      this.syncing = false;
      // A connection lost and back while this read ran: its ready event found a read going, so read again.
      if (!this.synced && losses !== this.losses && this.ready.client && this.ready.subscriber && !this.closed) void this.resync();
      this.judge();
    }
  }

  /**
   * A Redis that came back empty (a restart, a flush) has lost the day's shared spend: this host puts
   * back what it booked under older epochs, from its journal, once per epoch (the first of its
   * processes to connect does it). Until it has, this process is not healthy, so it admits no spend.
   */
  private async putBackSpend(): Promise<void> {
    const journal = this.journal;
    if (!journal) return;
    await this.client.set(EPOCH, randomUUID(), 'NX');
    const epoch = (await this.client.get(EPOCH)) ?? '';
    const days = journal.notIn(epoch, utcDay(Date.now() - SEED_DAYS * 86_400_000));
    const keys = [`${PREFIX}seeded:${epoch}:${journal.id}`];
    const args: string[] = [String(BUDGET_TTL_MS)];
    for (const d of days) {
      keys.push(`${PREFIX}budget:${d.scope}:${d.day}`, `${PREFIX}budget-holds:${d.scope}:${d.day}`);
      const field = (job: string, project: string) => JSON.stringify([job, project]);
      args.push(
        JSON.stringify({
          spend: Object.fromEntries(d.spend.map((r) => [field(r.job, r.project), String(r.nano)])),
          calls: Object.fromEntries(d.spend.map((r) => [field(r.job, r.project), String(r.calls)])),
          holds: Object.fromEntries(d.holds.map((h) => [h.id, String(h.nano)])),
        }),
      );
    }
    await this.scripts.genbatchSeed(keys.length, ...keys, ...args);
  }

  /** A refusal by Redis (out of memory…) becomes a loss of coordination, for runs to wait on; other errors stay what they are. */
  private asLost(error: unknown): never {
    const reason = redisRefusal(error);
    if (reason === undefined) throw error;
    this.refused(reason);
    throw new CoordinationLostError(this.where, reason);
  }

  /** Processes whose runs said they were alive within STALE_MS. */
  private noteLive(runs: Record<string, string>): void {
    const now = Date.now();
    for (const text of Object.values(runs)) {
      try {
        const run = JSON.parse(text) as { holder: string; seenAt: number };
        if (now - run.seenAt <= STALE_MS) this.liveHolders.add(run.holder);
      } catch {
        // Not a run record: ignored.
      }
    }
  }

  isLive(processId: string): boolean {
    return processId === this.id || this.liveHolders.has(processId);
  }

  /** `live`: a message on the channel, just sent, so its sender is going. */
  private receive(message: string, live = true): void {
    let cooldown: SharedCooldown;
    try {
      cooldown = JSON.parse(message) as SharedCooldown;
    } catch {
      return;
    }
    if (live) this.liveHolders.add(cooldown.by);
    cooldown.cleared = cooldown.cleared === true;
    const seen = this.mirror.get(cooldown.key);
    if (seen && seen.at === cooldown.at && seen.until === cooldown.until && seen.cleared === cooldown.cleared) return;
    // A record read at a resync may be older than a message that came while it was read.
    if (!live && seen && (seen.at > cooldown.at || (seen.at === cooldown.at && seen.cleared))) return;
    this.mirror.set(cooldown.key, cooldown);
    if (cooldown.by === this.id) return;
    if (!cooldown.cleared) this.received.set(cooldown.key, (this.received.get(cooldown.key) ?? 0) + 1);
    for (const listener of this.listeners) listener({ kind: 'cooldown', cooldown });
  }

  private connection(): Bottleneck.IORedisConnection {
    if (!this.bottleneck) {
      this.bottleneck = new Bottleneck.IORedisConnection({ client: this.client, Redis });
      acceptRedis7ScriptErrors(this.bottleneck);
      this.bottleneck.on('error', () => undefined);
    }
    return this.bottleneck;
  }

  limiterHooks(key: string): SharedLimiterHooks {
    return {
      clustered: (suffix) => ({
        datastore: 'ioredis',
        connection: this.connection(),
        id: `genbatch|${key}${suffix}`,
        clearDatastore: false,
        // Capacity freed by a process that died, and a token minute that began again, are seen within a second.
        heartbeatInterval: 1000,
        expiration: CLUSTERED_EXPIRATION_MS,
      }),
      lostSignal: () => this.lost.signal,
    };
  }

  cooldownOf(key: string): SharedCooldown | undefined {
    return this.mirror.get(key);
  }

  publishCooldown(cooldown: Pick<SharedCooldown, 'key' | 'model' | 'until' | 'reason' | 'perDay'>): void {
    const record: SharedCooldown = { ...cooldown, at: Date.now(), by: this.id, cleared: false };
    this.mirror.set(cooldown.key, record);
    // Fire and forget: while Redis is away, nothing is sent anyway.
    void this.scripts.genbatchSetCooldown(COOLDOWNS, cooldown.key, JSON.stringify(record), record.until, COOLDOWNS).catch(() => undefined);
  }

  clearCooldown(key: string, startedAt: number): void {
    const seen = this.mirror.get(key);
    if (!seen || seen.cleared || seen.at >= startedAt) return;
    this.mirror.set(key, { ...seen, cleared: true });
    void this.scripts.genbatchClearCooldown(COOLDOWNS, key, startedAt, COOLDOWNS).catch(() => undefined);
  }

  async countRequest(key: string, rpd: number, resetAt: number, floor: number): Promise<boolean> {
    const [ok, count] = await this.guarded(() =>
      this.scripts.genbatchCount(`${PREFIX}rpd:${resetAt}:${key}`, rpd, floor, Math.max(60_000, resetAt - Date.now() + 3_600_000)),
    );
    this.daily.set(key, { resetAt, count: Number(count), readAt: Date.now() });
    return ok === 1;
  }

  requestsToday(key: string, resetAt: number): number {
    const cached = this.daily.get(key);
    const now = Date.now();
    if (!cached || cached.resetAt !== resetAt || now - cached.readAt >= 1000) {
      // Never waits: the count read now is used by the next look; countRequest is the exact check.
      this.daily.set(key, { resetAt, count: cached?.resetAt === resetAt ? cached.count : 0, readAt: now });
      if (this.state.ok)
        void this.client
          .get(`${PREFIX}rpd:${resetAt}:${key}`)
          .then((value) => this.daily.set(key, { resetAt, count: Number(value ?? 0), readAt: Date.now() }))
          .catch(() => undefined);
    }
    return this.daily.get(key)?.count ?? 0;
  }

  private runRecord(run: SharedRunInfo): string {
    return JSON.stringify({ ...run, host: hostname(), pid: process.pid, holder: this.id, seenAt: Date.now() });
  }

  join(run: SharedRunInfo): void {
    this.runsJoined.set(run.runId, JSON.stringify(run));
    void this.client.hset(RUNS, run.runId, this.runRecord(run)).catch(() => undefined);
  }

  leave(runId: string): void {
    this.runsJoined.delete(runId);
    if (!this.closed) void this.client.hdel(RUNS, runId).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    if (!this.state.ok) return;
    if (this.runsJoined.size > 0) {
      const fields: string[] = [];
      for (const [runId, run] of this.runsJoined) fields.push(runId, this.runRecord(JSON.parse(run) as SharedRunInfo));
      await this.client.hset(RUNS, ...fields).catch(() => undefined);
    }
    // Who else is going: calls in flight of a process that stopped saying so no longer hold places in a shared window.
    const runs = await this.client.hgetall(RUNS).catch(() => undefined);
    if (runs) {
      this.liveHolders.clear();
      this.noteLive(runs);
    }
  }

  async runs(): Promise<SharedRun[]> {
    const all = await this.guarded(() => this.client.hgetall(RUNS));
    this.liveHolders.clear();
    this.noteLive(all);
    const now = Date.now();
    const out: SharedRun[] = [];
    const stale: string[] = [];
    for (const [runId, text] of Object.entries(all)) {
      const r = JSON.parse(text) as SharedRunInfo & { host: string; pid: number; holder: string; seenAt: number };
      if (now - r.seenAt > STALE_MS) stale.push(runId);
      else
        out.push({
          runId: r.runId,
          job: r.job,
          jobFile: r.jobFile,
          projects: r.projects,
          startedAt: r.startedAt,
          host: r.host,
          pid: r.pid,
          self: r.holder === this.id,
        });
    }
    if (stale.length > 0) void this.client.hdel(RUNS, ...stale).catch(() => undefined);
    return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }

  readonly budget: SharedBudgetBackend = {
    reserve: async (scope, day, capNano, nano, job, force) => {
      const id = randomUUID();
      const [ok, spent, held, epoch] = await this.guarded(() =>
        this.scripts.genbatchReserve(
          `${PREFIX}budget:${scope}:${day}`,
          `${PREFIX}budget-holds:${scope}:${day}`,
          EPOCH,
          capNano,
          nano,
          id,
          force ? 1 : 0,
          BUDGET_TTL_MS,
          randomUUID(),
        ),
      );
      // Kept on this host too: an empty Redis gets it back (putBackSpend).
      if (ok === 1) this.journal?.hold(id, scope, day, job, epoch, nano);
      return { spentNano: Number(spent), heldNano: Number(held), hold: ok === 1 ? { id, nano, day } : undefined };
    },
    settle: async (scope, hold, job, project, actualNano): Promise<BudgetTotals> => {
      // Not guarded: a settle waits for Redis to come back rather than leave the hold counted at its worst case.
      const [spent, held, epoch] = await this.scripts.genbatchSettle(
        `${PREFIX}budget:${scope}:${hold.day}`,
        `${PREFIX}budget-holds:${scope}:${hold.day}`,
        EPOCH,
        hold.id,
        actualNano,
        // Empty: the hold was released without a call; nothing is booked.
        project === undefined ? '' : JSON.stringify([job, project]),
        BUDGET_TTL_MS,
        randomUUID(),
      );
      this.journal?.spend(hold.id, scope, hold.day, job, project, epoch, actualNano);
      return { spentNano: Number(spent), heldNano: Number(held) };
    },
    record: async (scope, day, job, rows) => {
      const key = `${PREFIX}budget:${scope}:${day}`;
      const batch = this.client.multi().set(EPOCH, randomUUID(), 'NX').get(EPOCH);
      for (const row of rows) {
        const field = JSON.stringify([job, row.project]);
        batch.hincrby(key, 'spent', row.nano).hincrby(key, `spend:${field}`, row.nano).hincrby(key, `calls:${field}`, row.calls);
      }
      const results = await this.guarded(() => batch.pexpire(key, BUDGET_TTL_MS).exec());
      const epoch = String(results?.[1]?.[1] ?? '');
      for (const row of rows) this.journal?.spend(undefined, scope, day, job, row.project, epoch, row.nano, row.calls);
    },
    day: async (scope, day) => {
      const all = await this.guarded(() => this.client.hgetall(`${PREFIX}budget:${scope}:${day}`));
      const rows = new Map<string, { job: string; project: string; nano: number; calls: number }>();
      for (const [field, value] of Object.entries(all)) {
        const match = /^(spend|calls):(.*)$/.exec(field);
        if (!match) continue;
        const [job, project] = JSON.parse(match[2] ?? '[]') as [string, string];
        const row = rows.get(match[2] ?? '') ?? { job, project, nano: 0, calls: 0 };
        if (match[1] === 'spend') row.nano = Number(value);
        else row.calls = Number(value);
        rows.set(match[2] ?? '', row);
      }
      return {
        day,
        spentNano: Number(all.spent ?? 0),
        heldNano: Number(all.held ?? 0),
        rows: [...rows.values()].sort((a, b) => a.job.localeCompare(b.job) || a.project.localeCompare(b.project)),
      };
    },
    claimAlert: async (scope, day) =>
      (await this.guarded(() => this.client.set(`${PREFIX}budget-alert:${scope}:${day}`, String(Date.now()), 'PX', BUDGET_TTL_MS, 'NX'))) === 'OK',
  };

  /** Windows as last read or written here (version and state), and reads under way. */
  private readonly windowMirror = new Map<string, { version: string; state: string; readAt: number }>();
  private readonly windowReads = new Set<string>();
  /** Changes of one window by this process, one after another (they would only collide with each other). */
  private readonly windowQueue = new Map<string, Promise<unknown>>();

  readonly windows: SharedWindows = {
    change: <T>(key: string, change: (state: string | undefined) => { state: string; result: T }): Promise<T> => {
      const run = async (): Promise<T> => {
        const redisKey = `${PREFIX}window:${key}`;
        let seen = this.windowMirror.get(key);
        if (!seen) {
          const [version, state] = await this.guarded(() => this.client.hmget(redisKey, 'v', 's'));
          seen = { version: version ?? '', state: state ?? '', readAt: Date.now() };
        }
        for (let attempt = 0; attempt < WINDOW_ATTEMPTS; attempt++) {
          const next = change(seen.state === '' ? undefined : seen.state);
          const version: string = seen.version;
          const reply: [number, string?, string?] = await this.guarded(() => this.scripts.genbatchChangeWindow(redisKey, version, next.state, WINDOW_TTL_MS));
          const [ok, currentVersion, currentState] = reply;
          if (ok === 1) {
            this.windowMirror.set(key, { version: String(Number(version || '0') + 1), state: next.state, readAt: Date.now() });
            return next.result;
          }
          // Another process changed it since it was read: again, from what it is now.
          seen = { version: currentVersion ?? '', state: currentState ?? '', readAt: Date.now() };
          this.windowMirror.set(key, seen);
        }
        throw new CoordinationLostError(this.where, `the window ${key} kept changing under ${WINDOW_ATTEMPTS} attempts`);
      };
      const previous = this.windowQueue.get(key) ?? Promise.resolve();
      const result = previous.then(run, run);
      const settled = result.catch(() => undefined);
      this.windowQueue.set(key, settled);
      void settled.then(() => {
        if (this.windowQueue.get(key) === settled) this.windowQueue.delete(key);
      });
      return result;
    },
    peek: (key) => {
      const seen = this.windowMirror.get(key);
      if ((!seen || Date.now() - seen.readAt >= WINDOW_FRESH_MS) && this.state.ok && !this.windowReads.has(key)) {
        this.windowReads.add(key);
        void this.client
          .hmget(`${PREFIX}window:${key}`, 'v', 's')
          .then(([version, state]) => {
            const now = this.windowMirror.get(key);
            // A change written here meanwhile is newer than this read.
            if (!now || Number(version ?? 0) >= Number(now.version || 0))
              this.windowMirror.set(key, { version: version ?? '', state: state ?? '', readAt: Date.now() });
          })
          .catch(() => undefined)
          .finally(() => this.windowReads.delete(key));
      }
      return seen?.state === '' ? undefined : seen?.state;
    },
    all: async (since) => {
      const keys = await this.guarded(() => this.client.keys(`${PREFIX}window:*`));
      const out: { key: string; state: string }[] = [];
      for (const redisKey of keys.sort()) {
        const state = await this.guarded(() => this.client.hget(redisKey, 's'));
        if (state === null) continue;
        const parsed = JSON.parse(state) as { updatedAt?: number };
        if ((parsed.updatedAt ?? 0) >= since) out.push({ key: redisKey.slice(`${PREFIX}window:`.length), state });
      }
      return out;
    },
  };

  cooldownsReceived(): ReadonlyMap<string, number> {
    return this.received;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearInterval(this.refusalRetry);
    this.listeners.clear();
    if (this.state.ok && this.runsJoined.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.client.hdel(RUNS, ...this.runsJoined.keys()).catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
      ]);
      clearTimeout(timer);
    }
    this.runsJoined.clear();
    // Without waiting for replies: Redis may be gone, and a run must still end.
    await this.bottleneck?.disconnect(false);
    this.client.disconnect();
    this.subscriber.disconnect();
    this.journal?.close();
  }
}
