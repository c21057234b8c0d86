import type { GoogleGenAI } from '@google/genai';
import type { ProjectSnapshot } from '../engine/events.js';
import { NoUsableProjectError, StalledOnQuotaError, StopRequestedError } from '../errors/run-errors.js';
import { sleep, whenAborted } from '../resilience/backoff.js';
import { quotaFor, type Credentials, type ProjectCredentials, type Strategy } from './credentials.js';
import { ModelLimiter, type LimiterSlot } from './model-limiter.js';

/** A project lent to one call. `release` must be called once, when the call has ended. */
export interface Lease {
  project: ProjectCredentials;
  client: GoogleGenAI;
  /** This call is the one probe allowed after a cooldown. */
  probe: boolean;
  release(actualTokens?: number): void;
}

/** A project's health for one model: Vertex quotas (and 429s) are per project and base model. */
interface ModelHealth {
  state: 'active' | 'cooling' | 'probing' | 'exhausted';
  until: number;
  reason: string | undefined;
  consecutive429: number;
  probeInFlight: boolean;
}

interface ProjectHandle {
  credentials: ProjectCredentials;
  client: GoogleGenAI | undefined;
  disabled: string | undefined;
  removed: boolean;
  inFlight: number;
  requests: number;
  rejected429: number;
  costUsd: number;
  health: Map<string, ModelHealth>;
  limiters: Map<string, ModelLimiter>;
  /** Requests per model since the last daily reset (for `rpd`). */
  today: Map<string, number>;
  dayEndsAt: number;
}

/** Health that survives a restart: what an immediate resume must respect. */
export interface PersistedProjectState {
  project: string;
  model: string;
  state: 'cooling' | 'exhausted';
  until: number;
  reason: string;
}

export interface ProjectPoolOptions {
  maxStallMs: number;
  createClient: (project: ProjectCredentials) => GoogleGenAI;
  now?: () => number;
  onWaiting?: (reason: string, untilMs: number) => void;
  onStateChange?: (snapshot: ProjectSnapshot) => void;
  /** Requests per project and model already made today (from the ledger), for `rpd`. */
  requestsToday?: (project: string, model: string) => number;
}

const COOLDOWN_BASE_MS = 30_000;
const COOLDOWN_CAP_MS = 10 * 60_000;

/** Vertex resets per-day quotas at midnight Pacific time (taken as UTC-8). */
export function nextDailyReset(nowMs: number): number {
  const offset = 8 * 3_600_000;
  const day = 86_400_000;
  return Math.floor((nowMs - offset) / day) * day + day + offset;
}

/**
 * The projects a run may use and their health. It decides which project takes the next call
 * (strategy, per-model limiters), cools a project down after a 429 and lets exactly one probe
 * through when the cooldown ends (a half-open breaker), takes a project out for the day or for the
 * run, and makes callers wait — sending nothing — while every project is cooling down, until one
 * is back or the stall limit passes. Projects can be added, changed or removed while it runs.
 */
export class ProjectPool {
  private readonly projects = new Map<string, ProjectHandle>();
  private strategy: Strategy;
  private cursor = 0;
  private stalledSince: number | undefined;
  private readonly now: () => number;
  private wake: (() => void) | undefined;
  private wakeSignal: Promise<void>;

  constructor(
    credentials: Credentials,
    private readonly options: ProjectPoolOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.strategy = credentials.strategy;
    this.wakeSignal = this.newWakeSignal();
    for (const project of credentials.projects) this.projects.set(project.name, this.newHandle(project));
  }

  private newWakeSignal(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  /** Wakes callers waiting for a project (one came back, was added or changed). */
  private notify(): void {
    const wake = this.wake;
    this.wakeSignal = this.newWakeSignal();
    wake?.();
  }

  private newHandle(credentials: ProjectCredentials): ProjectHandle {
    return {
      credentials,
      client: undefined,
      disabled: credentials.enabled ? undefined : 'disabled in the credentials file',
      removed: false,
      inFlight: 0,
      requests: 0,
      rejected429: 0,
      costUsd: 0,
      health: new Map(),
      limiters: new Map(),
      today: new Map(),
      dayEndsAt: nextDailyReset(this.now()),
    };
  }

  private health(p: ProjectHandle, model: string): ModelHealth {
    let health = p.health.get(model);
    if (!health) {
      health = { state: 'active', until: 0, reason: undefined, consecutive429: 0, probeInFlight: false };
      p.health.set(model, health);
    }
    return health;
  }

  snapshot(): ProjectSnapshot[] {
    return [...this.projects.values()].filter((p) => !p.removed).map((p) => this.snapshotOf(p));
  }

  /** A project's state as people see it: disabled, or its most constrained model. */
  private snapshotOf(p: ProjectHandle): ProjectSnapshot {
    const base = { name: p.credentials.name, requests: p.requests, rejected429: p.rejected429, costUsd: p.costUsd };
    if (p.disabled !== undefined) return { ...base, state: 'disabled', reason: p.disabled };
    const rank = { exhausted: 3, cooling: 2, probing: 1, active: 0 } as const;
    let worst: [string, ModelHealth] | undefined;
    for (const entry of p.health) if (!worst || rank[entry[1].state] > rank[worst[1].state]) worst = entry;
    if (!worst || worst[1].state === 'active') return { ...base, state: 'active' };
    const [model, h] = worst;
    return {
      ...base,
      state: h.state,
      ...(h.state === 'cooling' || h.state === 'exhausted' ? { until: h.until } : {}),
      reason: `${model}: ${h.reason ?? h.state}`,
    };
  }

  private setHealth(p: ProjectHandle, model: string, state: ModelHealth['state'], until: number, reason: string | undefined): void {
    const h = this.health(p, model);
    h.state = state;
    h.until = until;
    h.reason = reason;
    this.options.onStateChange?.(this.snapshotOf(p));
  }

  /** Restores cooldowns and daily exhaustion saved by an earlier run that are still in force. */
  restore(states: readonly PersistedProjectState[]): void {
    const now = this.now();
    for (const saved of states) {
      const p = this.projects.get(saved.project);
      if (!p || saved.until <= now) continue;
      this.setHealth(p, saved.model, saved.state, saved.until, `${saved.reason} (from the previous run)`);
    }
  }

  private limiter(p: ProjectHandle, model: string): ModelLimiter {
    let limiter = p.limiters.get(model);
    if (!limiter) {
      limiter = new ModelLimiter(quotaFor(p.credentials, model), this.now);
      p.limiters.set(model, limiter);
    }
    return limiter;
  }

  private requestsToday(p: ProjectHandle, model: string): number {
    const now = this.now();
    if (now >= p.dayEndsAt) {
      p.today.clear();
      p.dayEndsAt = nextDailyReset(now);
    }
    let count = p.today.get(model);
    if (count === undefined) {
      count = this.options.requestsToday?.(p.credentials.name, model) ?? 0;
      p.today.set(model, count);
    }
    return count;
  }

  /** Cooldowns that have ended become one probe's chance (half-open); a day that ended resets. */
  private refresh(p: ProjectHandle, model: string): void {
    const h = this.health(p, model);
    const now = this.now();
    if (h.state === 'cooling' && h.until <= now) this.setHealth(p, model, 'probing', 0, h.reason);
    else if (h.state === 'exhausted' && h.until <= now) this.setHealth(p, model, 'active', 0, undefined);
  }

  private order(ready: ProjectHandle[]): ProjectHandle[] {
    if (this.strategy === 'fill-first') return ready;
    if (this.strategy === 'least-loaded') return [...ready].sort((a, b) => a.inFlight - b.inFlight);
    const start = this.cursor % ready.length;
    this.cursor = (this.cursor + 1) % Math.max(1, ready.length);
    return [...ready.slice(start), ...ready.slice(0, start)];
  }

  private usable(p: ProjectHandle, model: string): boolean {
    if (p.removed || p.disabled !== undefined) return false;
    const h = this.health(p, model);
    if (h.state === 'cooling' || h.state === 'exhausted') return false;
    if (h.state === 'probing' && h.probeInFlight) return false;
    const rpd = quotaFor(p.credentials, model).rpd;
    if (rpd !== undefined && this.requestsToday(p, model) >= rpd) {
      this.setHealth(p, model, 'exhausted', p.dayEndsAt, `rpd ${rpd} reached`);
      return false;
    }
    return true;
  }

  /**
   * Waits for a project that may take a call now, and takes a slot of its limiter for `model`.
   * Throws when every project is disabled, when stalled past the limit, or when stopping.
   */
  async acquire(model: string, pool: string | undefined, signal: AbortSignal, estimatedTokens = 0, onlyProject?: string): Promise<Lease> {
    // A call bound to one project (polling an operation it started) uses it if it is still there.
    const bound = onlyProject !== undefined && [...this.projects.values()].some((p) => !p.removed && p.credentials.name === onlyProject);
    for (;;) {
      if (signal.aborted) throw new StopRequestedError();
      const inPool = [...this.projects.values()].filter((p) => !p.removed && (bound ? p.credentials.name === onlyProject : pool === undefined || p.credentials.pool === pool));
      const candidates = inPool.filter((p) => p.disabled === undefined);
      if (candidates.length === 0) {
        throw new NoUsableProjectError(
          inPool.length === 0
            ? `no project belongs to pool "${pool ?? 'default'}"`
            : `every project is disabled (${inPool.map((p) => `${p.credentials.name}: ${p.disabled ?? 'disabled'}`).join('; ')})`,
        );
      }
      candidates.forEach((p) => this.refresh(p, model));
      const ready = candidates.filter((p) => this.usable(p, model));
      if (ready.length > 0) {
        const ordered = this.order(ready);
        let chosen: ProjectHandle | undefined;
        for (const p of ordered) {
          if (await this.limiter(p, model).ready()) {
            chosen = p;
            break;
          }
        }
        // None can start this instant: queue on the one with the shortest line (first by strategy on ties).
        chosen ??= ordered.reduce((a, b) => (this.limiter(b, model).queued() < this.limiter(a, model).queued() ? b : a));
        const lease = await this.take(chosen, model, signal, estimatedTokens);
        if (lease) return lease;
        continue; // the project changed state while we waited for its limiter: choose again
      }
      const now = this.now();
      this.stalledSince ??= now;
      const waiting = candidates.map((p) => this.health(p, model));
      const earliest = Math.min(...waiting.map((h) => (h.state === 'probing' ? now : h.until)));
      const stalledFor = now - this.stalledSince;
      if (stalledFor >= this.options.maxStallMs) throw new StalledOnQuotaError(Number.isFinite(earliest) ? earliest : undefined, stalledFor);
      const wakeAt = Math.min(earliest, this.stalledSince + this.options.maxStallMs);
      if (!waiting.some((h) => h.state === 'probing')) {
        this.options.onWaiting?.(`every project${pool ? ` of pool "${pool}"` : ''} is cooling down for ${model}`, earliest);
      }
      await Promise.race([sleep(Math.max(5, Math.min(wakeAt - now, 1000)), signal), this.wakeSignal]);
    }
  }

  private async take(p: ProjectHandle, model: string, signal: AbortSignal, estimatedTokens: number): Promise<Lease | undefined> {
    let gaveUp = false;
    const limiter = this.limiter(p, model);
    const slotPromise = limiter.acquire(estimatedTokens, () => gaveUp || !this.usable(p, model));
    const abort = whenAborted(signal);
    const slot: LimiterSlot | undefined | 'aborted' = await Promise.race([slotPromise, abort.promise]);
    abort.dispose();
    if (slot === 'aborted') {
      gaveUp = true;
      void slotPromise.then((s) => s?.release());
      throw new StopRequestedError();
    }
    if (!slot) return undefined;
    if (!this.usable(p, model)) {
      slot.release();
      return undefined;
    }
    const health = this.health(p, model);
    const probe = health.state === 'probing';
    if (probe) health.probeInFlight = true;
    p.inFlight += 1;
    p.requests += 1;
    p.today.set(model, this.requestsToday(p, model) + 1);
    if (!p.client) p.client = this.options.createClient(p.credentials);
    let released = false;
    return {
      project: p.credentials,
      client: p.client,
      probe,
      release: (actualTokens?: number) => {
        if (released) return;
        released = true;
        p.inFlight -= 1;
        if (probe) health.probeInFlight = false;
        slot.release(actualTokens);
        if (probe) this.notify();
      },
    };
  }

  /** A call succeeded: the project is healthy for the model (a probe closes its breaker) and the run is not stalled. */
  succeeded(name: string, model: string, costUsd: number): void {
    const p = this.projects.get(name);
    if (!p) return;
    const h = this.health(p, model);
    h.consecutive429 = 0;
    p.costUsd += costUsd;
    this.limiter(p, model).succeeded();
    this.stalledSince = undefined;
    if (h.state === 'probing') {
      this.setHealth(p, model, 'active', 0, undefined);
      this.notify();
    }
  }

  /** A 429: the project cools down for the model (the given delay, else 30 s doubling), or is out for the day. */
  cooldown(name: string, model: string, options: { retryAfterMs?: number; perDay?: boolean; reason: string; startedAt?: number }): number {
    const p = this.projects.get(name);
    if (!p) return this.now();
    const h = this.health(p, model);
    p.rejected429 += 1;
    h.consecutive429 += 1;
    this.limiter(p, model).rejected(options.startedAt);
    const now = this.now();
    if (options.perDay) {
      this.setHealth(p, model, 'exhausted', Math.max(h.until, nextDailyReset(now)), options.reason);
    } else {
      const delay = options.retryAfterMs ?? Math.min(COOLDOWN_CAP_MS, COOLDOWN_BASE_MS * 2 ** (h.consecutive429 - 1));
      // A late 429 from a call sent before the cooldown began must not shorten it.
      const until = h.state === 'cooling' ? Math.max(h.until, now + delay) : now + delay;
      if (h.state !== 'exhausted') this.setHealth(p, model, 'cooling', until, options.reason);
    }
    return h.until;
  }

  /** A 401/403: the project takes no more calls in this run. */
  disable(name: string, reason: string): void {
    const p = this.projects.get(name);
    if (!p || p.disabled !== undefined) return;
    p.disabled = reason;
    this.options.onStateChange?.(this.snapshotOf(p));
  }

  /**
   * A reloaded credentials file: new projects join at once, removed ones take no new calls (those in
   * flight finish), changed ones get a new client and limits. Health of unchanged projects is kept.
   */
  update(credentials: Credentials): { added: string[]; removed: string[]; changed: string[] } {
    this.strategy = credentials.strategy;
    const seen = new Set<string>();
    const result = { added: [] as string[], removed: [] as string[], changed: [] as string[] };
    for (const next of credentials.projects) {
      seen.add(next.name);
      const current = this.projects.get(next.name);
      if (!current || current.removed) {
        this.projects.set(next.name, this.newHandle(next));
        result.added.push(next.name);
        continue;
      }
      if (JSON.stringify(current.credentials) === JSON.stringify(next)) continue;
      const connectionChanged = JSON.stringify([current.credentials.project, current.credentials.location, current.credentials.auth, current.credentials.endpoint]) !==
        JSON.stringify([next.project, next.location, next.auth, next.endpoint]);
      current.credentials = next;
      if (connectionChanged) {
        current.client = undefined;
        // New credentials deserve a fresh chance: a disabled (403) project is tried again.
        if (next.enabled) current.disabled = undefined;
      }
      if (!next.enabled) current.disabled = 'disabled in the credentials file';
      else if (current.disabled === 'disabled in the credentials file') current.disabled = undefined;
      this.options.onStateChange?.(this.snapshotOf(current));
      for (const [model, limiter] of current.limiters) limiter.update(quotaFor(next, model));
      result.changed.push(next.name);
    }
    for (const [name, p] of this.projects) {
      if (!seen.has(name) && !p.removed) {
        p.removed = true;
        result.removed.push(name);
      }
    }
    this.notify();
    return result;
  }

  /** Persistable health: cooldowns and daily exhaustion still in force, per project and model. */
  persistable(): PersistedProjectState[] {
    const now = this.now();
    const out: PersistedProjectState[] = [];
    for (const p of this.projects.values()) {
      for (const [model, h] of p.health) {
        if ((h.state === 'cooling' || h.state === 'exhausted') && h.until > now) out.push({ project: p.credentials.name, model, state: h.state, until: h.until, reason: h.reason ?? '' });
      }
    }
    return out;
  }
}
