import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { CoordinationStore } from '../store/coordination-store.js';
import {
  utcDay,
  type BudgetHold,
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
import { processAlive } from '../store/process-alive.js';
import { bootId, hostMonotonicMs } from '../resilience/steady-clock.js';

/** How often this process says it is processAlive, and after how long without that its calls in flight and runs stop counting. */
const HEARTBEAT_MS = 2000;
const STALE_MS = 10_000;
/** How often cooldowns recorded by other processes are looked for (one integer read when none changed). */
const POLL_MS = 50;
/** Days of spend and request counts kept in the shared file. */
const KEEP_DAYS = 7;

/**
 * Coordination on one host with no server: every genbatch process of the user opens the same SQLite
 * file (see sharedDir) and takes turns there, one short transaction per call. Cooldowns others
 * record are picked up within POLL_MS; a process that dies stops counting after STALE_MS (at once,
 * for a pid that is gone).
 */
export class LocalCoordinator implements Coordinator {
  readonly kind = 'local';
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly store: CoordinationStore;
  private readonly timer: NodeJS.Timeout;
  private readonly listeners = new Set<(event: CoordinationEvent) => void>();
  private readonly mirror = new Map<string, SharedCooldown>();
  private readonly received = new Map<string, number>();
  private readonly daily = new Map<string, { resetAt: number; count: number; readAt: number }>();
  /** Never aborted: a local file is not lost like a server. */
  private readonly never = new AbortController().signal;
  private version = -1;
  private live = { readAt: 0, ids: new Set<string>() };
  private beatAt = 0;

  constructor(readonly where: string) {
    this.store = CoordinationStore.open(where);
    const now = Date.now();
    this.store.touchHolder(this.id, process.pid, hostname(), now);
    this.beatAt = now;
    this.store.forgetBefore(utcDay(now - KEEP_DAYS * 86_400_000));
    this.refresh();
    this.timer = setInterval(() => this.tick(), POLL_MS);
    this.timer.unref();
  }

  health(): CoordinationHealth {
    return { ok: true };
  }

  lostSignal(): AbortSignal {
    return this.never;
  }

  onEvent(listener: (event: CoordinationEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private tick(): void {
    if (!this.store.isOpen) return;
    try {
      const now = Date.now();
      if (now - this.beatAt >= HEARTBEAT_MS) {
        this.store.touchHolder(this.id, process.pid, hostname(), now);
        this.beatAt = now;
      }
      this.refresh();
    } catch {
      // The file is busy or unwritable for a moment: the next tick tries again.
    }
  }

  /** Reloads cooldowns when another process recorded or cleared one, and passes them on. */
  private refresh(): void {
    const version = this.store.cooldownsVersion();
    if (version === this.version) return;
    this.version = version;
    for (const row of this.store.cooldowns()) {
      const cooldown: SharedCooldown = {
        key: row.key,
        model: row.model,
        until: row.until,
        reason: row.reason,
        perDay: row.perDay,
        at: row.at,
        by: row.by,
        cleared: row.clearedAt !== undefined,
      };
      const seen = this.mirror.get(row.key);
      if (seen && seen.at === cooldown.at && seen.until === cooldown.until && seen.cleared === cooldown.cleared) continue;
      this.mirror.set(row.key, cooldown);
      if (cooldown.by === this.id) continue;
      if (!cooldown.cleared) this.received.set(row.key, (this.received.get(row.key) ?? 0) + 1);
      for (const listener of this.listeners) listener({ kind: 'cooldown', cooldown });
    }
  }

  limiterHooks(quotaKey: string): SharedLimiterHooks {
    // Paced on the host's monotonic clock (a wall-clock step would freeze the gate for its size), whose
    // values hold until the next boot: the key names the boot.
    const key = `${bootId()}|${quotaKey}`;
    return {
      gate: {
        now: hostMonotonicMs,
        take: (request) => this.store.takeTurn(key, this.id, { ...request, staleMs: STALE_MS }, hostMonotonicMs(), Date.now()),
        ready: (request) => this.store.turnReady(key, { ...request, staleMs: STALE_MS }, hostMonotonicMs()),
        startedLate: (nextAt) => this.store.pushNextTurn(key, nextAt),
        end: (turn, actualTokens) =>
          this.store.endTurn(key, turn.leaseId, turn.tokensWindow, turn.tokens > 0 && actualTokens !== undefined ? actualTokens - turn.tokens : 0),
      },
    };
  }

  isLive(processId: string): boolean {
    if (processId === this.id) return true;
    const now = Date.now();
    if (now - this.live.readAt >= 1000) {
      const host = hostname();
      const ids = this.store
        .holders()
        .filter((h) => h.seenAt >= now - STALE_MS && (h.host !== host || processAlive(h.pid)))
        .map((h) => h.id);
      this.live = { readAt: now, ids: new Set(ids) };
    }
    return this.live.ids.has(processId);
  }

  cooldownOf(key: string): SharedCooldown | undefined {
    return this.mirror.get(key);
  }

  publishCooldown(cooldown: Pick<SharedCooldown, 'key' | 'model' | 'until' | 'reason' | 'perDay'>): void {
    const row = { ...cooldown, at: Date.now(), by: this.id };
    if (this.store.setCooldown(row)) this.mirror.set(cooldown.key, { ...row, cleared: false });
  }

  clearCooldown(key: string, startedAt: number): void {
    const seen = this.mirror.get(key);
    // Nothing to clear as far as this process knows: no write on the path of every successful call.
    if (!seen || seen.cleared || seen.at >= startedAt) return;
    if (this.store.clearCooldown(key, startedAt, Date.now())) this.mirror.set(key, { ...seen, cleared: true });
  }

  countRequest(key: string, rpd: number, resetAt: number, floor: number): Promise<boolean> {
    const { ok, count } = this.store.countRequest(key, String(resetAt), rpd, floor);
    this.daily.set(key, { resetAt, count, readAt: Date.now() });
    return Promise.resolve(ok);
  }

  requestsToday(key: string, resetAt: number): number {
    const now = Date.now();
    const cached = this.daily.get(key);
    if (cached && cached.resetAt === resetAt && now - cached.readAt < 1000) return cached.count;
    const count = this.store.requestsToday(key, String(resetAt));
    this.daily.set(key, { resetAt, count, readAt: now });
    return count;
  }

  join(run: SharedRunInfo): void {
    this.store.joinRun({ ...run, holder: this.id, host: hostname(), pid: process.pid });
  }

  leave(runId: string): void {
    if (this.store.isOpen) this.store.leaveRun(runId);
  }

  runs(): Promise<SharedRun[]> {
    const host = hostname();
    const runs = this.store.runs(Date.now(), STALE_MS).filter((r) => r.host !== host || processAlive(r.pid));
    return Promise.resolve(
      runs.map((r) => ({
        runId: r.runId,
        job: r.job,
        jobFile: r.jobFile,
        projects: r.projects,
        startedAt: r.startedAt,
        host: r.host,
        pid: r.pid,
        self: r.holder === this.id,
      })),
    );
  }

  readonly budget: SharedBudgetBackend = {
    reserve: (scope, day, capNano, nano, job, force) => {
      const r = this.store.reserveBudget(scope, day, capNano, nano, this.id, job, force);
      const hold: BudgetHold | undefined = r.holdId === undefined ? undefined : { id: String(r.holdId), nano, day };
      return Promise.resolve({ spentNano: r.spentNano, heldNano: r.heldNano, hold });
    },
    settle: (scope, hold, job, project, actualNano) => Promise.resolve(this.store.settleBudget(Number(hold.id), scope, hold.day, job, project, actualNano)),
    record: (scope, day, job, rows) => Promise.resolve(this.store.recordSpend(scope, day, job, rows)),
    day: (scope, day) => Promise.resolve({ day, ...this.store.budgetDay(scope, day) }),
    claimAlert: (scope, day) => Promise.resolve(this.store.claimAlert(scope, day, Date.now())),
  };

  readonly windows: SharedWindows = {
    change: (key, change) => {
      try {
        return Promise.resolve(this.store.changeWindow(key, Date.now(), change));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    },
    peek: (key) => (this.store.isOpen ? this.store.windowState(key) : undefined),
    all: (since) => Promise.resolve(this.store.windows(since)),
  };

  cooldownsReceived(): ReadonlyMap<string, number> {
    return this.received;
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    this.listeners.clear();
    if (this.store.isOpen) {
      try {
        this.store.dropHolder(this.id);
      } finally {
        this.store.close();
      }
    }
    return Promise.resolve();
  }
}
