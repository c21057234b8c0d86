import type { GoogleGenAI } from '@google/genai';
import type { Coordinator, SharedCooldown } from './coordinator.js';
import { kindOf429, resolveRoute, type ModelRoute } from './model-route.js';
import type { QuotaExhaustedError } from '../errors/provider-errors.js';
import { AdaptiveWindow, type CapacityWindow, type WindowOutcome, type WindowSnapshot, type WindowTicket } from '../resilience/adaptive-window.js';
import { SharedCapacityWindow } from './shared-capacity-window.js';
import { CooldownBreaker, type BreakerState } from '../resilience/cooldown-breaker.js';
import type { QuotaKind } from '../resilience/quota-kind.js';
import { whenAborted } from '../resilience/backoff.js';
import { nextDailyReset } from '../resilience/quota-day.js';
import { steadyNow } from '../resilience/steady-clock.js';
import type { Credentials, ProjectApi, ProjectCredentials, Strategy } from '../credentials/credentials.js';
import { ModelLimiter, type LimiterSlot, type NamedQuota } from './model-limiter.js';

/** A project's health as status and progress views show it. */
export interface ProjectSnapshot {
  name: string;
  state: 'active' | 'cooling' | 'probing' | 'exhausted' | 'disabled';
  until?: number;
  reason?: string;
  requests: number;
  rejected429: number;
  costUsd: number;
}

/** A project lent to one call. `release` must be called once, when the call has ended. */
export interface Lease {
  project: ProjectCredentials;
  /** The model the lease is for (a step's fallback model, maybe). */
  model: string;
  /** The project and model resolved: limits, kind of quota, shared keys (what settling the call needs to know of them). */
  route: ModelRoute;
  client: GoogleGenAI;
  /** This call is the one probe allowed after a cooldown (or of saved health at a run's start). */
  probe: boolean;
  /**
   * Ends the lease. `outcome` tells the shared-capacity window of the model and location how the
   * call went (`success`, `refused` by shared capacity, `timeout`); none: no verdict on capacity.
   */
  release(actualTokens?: number, outcome?: WindowOutcome): void;
}

/** The adaptive window of a model at a location (shared capacity), as status shows it. */
export interface CapacityWindowSnapshot extends WindowSnapshot {
  model: string;
  location: string;
}

/** Whether a pool can take a call for a model now, and if not, when it is expected to. */
export type Availability =
  | { state: 'ready' }
  /** Every project is cooling down, out for the day or waiting for a probe's answer. `until` is undefined while a probe is out. */
  | { state: 'waiting'; until: number | undefined; reason: string; outageSince?: number; sharedCapacity?: true; daily?: true }
  /** No project can ever serve it in this run (none in the pool, or all disabled). */
  | { state: 'unusable'; reason: string };

interface ProjectHandle {
  credentials: ProjectCredentials;
  client: GoogleGenAI | undefined;
  disabled: string | undefined;
  removed: boolean;
  inFlight: number;
  requests: number;
  rejected429: number;
  costUsd: number;
  /** Per model, resolved once (again when the entry changes): limits, kind of quota, shared keys. */
  routes: Map<string, ModelRoute>;
  /** Per model: Vertex quotas (and 429s) are per project and base model. */
  models: Map<string, RouteState>;
  /** Models this project cannot use in this run (404/403 for the model alone), with why. */
  unavailable: Map<string, string>;
  /** Requests per model since the last daily reset (for `rpd`). */
  today: Map<string, number>;
  /** Since when its endpoint has been unreachable (no call got through since), if it is. */
  outageSince: number | undefined;
  dayEndsAt: number;
}

/** One project's health and pacing for one model, built from its route (the route answers every question of keys and limits). */
interface RouteState {
  route: ModelRoute;
  breaker: CooldownBreaker;
  /** Built at the first lease or verdict. */
  limiter: ModelLimiter | undefined;
  /** The model and location's shared-capacity window (null: none governs the route), looked up at first need. */
  window: CapacityWindow | null | undefined;
  /** When the last probe started (its success clears a cooldown other runs share). */
  probeStartedAt: number | undefined;
}

/** Health that survives a restart: what the next run takes as a hint (and probes once). */
export interface PersistedProjectState {
  project: string;
  model: string;
  state: 'cooling' | 'exhausted';
  until: number;
  reason: string;
}

export interface ProjectPoolOptions {
  createClient: (project: ProjectCredentials) => GoogleGenAI;
  /** The clock of cooldowns, pacing and leases: steady (a wall-clock step does not bend it). */
  now?: () => number;
  /** The wall clock: daily resets, and instants saved or shared with other processes. */
  wallNow?: () => number;
  onStateChange?: (snapshot: ProjectSnapshot) => void;
  /** Requests per project and model already made today (from the ledger), for `rpd`. */
  requestsToday?: (project: string, model: string) => number;
  /**
   * Shares declared limits, `rpd` and cooldowns with the other runs using the same projects (on this
   * host, or through Redis). While it cannot be reached, no call is made.
   */
  coordinator?: Coordinator;
  /** Whether a project's API serves a model at all (the Gemini API serves fewer models than Vertex). */
  serves?: (project: ProjectCredentials, model: string) => boolean;
}

const COOLDOWN_BASE_MS = 30_000;
const COOLDOWN_CAP_MS = 10 * 60_000;
const OUTAGE_BASE_MS = 1000;
const OUTAGE_CAP_MS = 30_000;
/** How soon a full shared window is looked at again (places freed by other runs' calls are not announced). */
const SHARED_WINDOW_POLL_MS = 20;

const SNAPSHOT_STATE: Record<BreakerState, ProjectSnapshot['state']> = { closed: 'active', open: 'cooling', half_open: 'probing', exhausted: 'exhausted' };

/**
 * The projects a run may use and their health. It says whether a pool can take a call for a model
 * now (it never waits on a cooldown itself: the scheduler parks the work and does other work),
 * chooses the project for the next call (strategy, per-model limiters), and keeps one cooldown
 * breaker per project and model: a 429 opens it, one probe passes when it ends, a 401/403 takes
 * the project out for the run. Projects can be added, changed or removed while it runs.
 */
export class ProjectPool {
  private readonly projects = new Map<string, ProjectHandle>();
  private strategy: Strategy;
  private cursor = 0;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private wake: (() => void) | undefined;
  private wakeSignal: Promise<void>;

  private readonly unsubscribe: (() => void) | undefined;
  /** Shared capacity: one adaptive window per endpoint, location and model, whatever the project. */
  private readonly windows = new Map<string, { model: string; location: string; window: CapacityWindow }>();

  constructor(
    credentials: Credentials,
    private readonly options: ProjectPoolOptions,
  ) {
    this.now = options.now ?? steadyNow;
    this.wallNow = options.wallNow ?? Date.now;
    this.strategy = credentials.strategy;
    this.wakeSignal = this.newWakeSignal();
    for (const project of credentials.projects) this.projects.set(project.name, this.newHandle(project));
    this.unsubscribe = options.coordinator?.onEvent((event) => {
      if (event.kind === 'cooldown') this.sharedCooldown(event.cooldown);
      this.notify();
    });
  }

  /** Stops listening to the other runs (the coordinator itself belongs to the run session). */
  detach(): void {
    this.unsubscribe?.();
  }

  /**
   * Another run's 429 (or its success after one): every project of this pool that is the same Google
   * Cloud project cools down for the model too, or, half-open, closes without a probe of its own.
   */
  private sharedCooldown(cooldown: SharedCooldown): void {
    for (const p of this.projects.values()) {
      if (p.removed || this.routeOf(p, cooldown.model).quotaKey !== cooldown.key) continue;
      this.applySharedCooldown(this.stateOf(p, cooldown.model).breaker, cooldown);
    }
  }

  private applySharedCooldown(breaker: CooldownBreaker, cooldown: SharedCooldown): void {
    if (cooldown.cleared) {
      if (breaker.state === 'half_open' && !breaker.probeInFlight) breaker.success();
      return;
    }
    // Shared between processes on the wall clock; held here on the pool's own.
    const until = this.fromWall(cooldown.until);
    if (until <= this.now()) return;
    const reason = `${cooldown.reason} (seen by another run)`;
    if (this.options.coordinator?.isLive(cooldown.by) === false) {
      // Left by a run that is gone: a hint, like saved health (one probe finds out).
      if (breaker.state === 'closed') breaker.restore({ state: cooldown.perDay ? 'exhausted' : 'open', until, reason });
    } else if (cooldown.perDay) breaker.failure({ reason, perDay: true, resetAt: until });
    else breaker.failure({ reason, retryAfterMs: until - this.now() });
  }

  private newWakeSignal(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  /** Resolves at the next change of any project's health or of the credentials. */
  changed(): Promise<void> {
    return this.wakeSignal;
  }

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
      routes: new Map(),
      models: new Map(),
      unavailable: new Map(),
      today: new Map(),
      outageSince: undefined,
      dayEndsAt: nextDailyReset(this.wallNow()),
    };
  }

  /** The model on the project, resolved once (the entry's limits, kind of quota and shared keys). */
  private routeOf(p: ProjectHandle, model: string): ModelRoute {
    let route = p.routes.get(model);
    if (!route) {
      route = resolveRoute(p.credentials, model, this.options.serves);
      p.routes.set(model, route);
    }
    return route;
  }

  /** The project's state for the model: its breaker now, its limiter and window when first needed. */
  private stateOf(p: ProjectHandle, model: string): RouteState {
    let state = p.models.get(model);
    if (!state) {
      const route = this.routeOf(p, model);
      const breaker = new CooldownBreaker({
        now: this.now,
        baseMs: COOLDOWN_BASE_MS,
        capMs: COOLDOWN_CAP_MS,
        onChange: () => {
          this.options.onStateChange?.(this.snapshotOf(p));
          this.notify();
        },
      });
      state = { route, breaker, limiter: undefined, window: undefined, probeStartedAt: undefined };
      p.models.set(model, state);
      // A cooldown another run recorded before this project and model were first used here.
      const shared = this.options.coordinator?.cooldownOf(route.quotaKey);
      if (shared && !shared.cleared) this.applySharedCooldown(breaker, shared);
    }
    return state;
  }

  private breaker(p: ProjectHandle, model: string): CooldownBreaker {
    return this.stateOf(p, model).breaker;
  }

  snapshot(): ProjectSnapshot[] {
    return [...this.projects.values()].filter((p) => !p.removed).map((p) => this.snapshotOf(p));
  }

  /** A project's state as people see it: disabled, or its most constrained model. */
  private snapshotOf(p: ProjectHandle): ProjectSnapshot {
    const base = { name: p.credentials.name, requests: p.requests, rejected429: p.rejected429, costUsd: p.costUsd };
    if (p.disabled !== undefined) return { ...base, state: 'disabled', reason: p.disabled };
    const rank = { exhausted: 3, cooling: 2, probing: 1, active: 0 } as const;
    let worst: { model: string; state: ProjectSnapshot['state']; breaker: CooldownBreaker } | undefined;
    for (const [model, { breaker }] of p.models) {
      const state = SNAPSHOT_STATE[breaker.state];
      if (state === 'disabled') continue;
      if (!worst || rank[state] > rank[worst.state as keyof typeof rank]) worst = { model, state, breaker };
    }
    if (!worst || worst.state === 'active') return { ...base, state: 'active' };
    const until = worst.breaker.until;
    // People read it: on the wall clock.
    return {
      ...base,
      state: worst.state,
      ...(until === undefined ? {} : { until: this.toWall(until) }),
      reason: `${worst.model}: ${worst.breaker.reason ?? worst.state}`,
    };
  }

  /**
   * Saved cooldowns and daily exhaustion still in force, taken as hints: each (project, model)
   * starts half-open, so exactly one probe finds out whether the quota is back.
   */
  restore(states: readonly PersistedProjectState[]): void {
    const now = this.wallNow();
    for (const saved of states) {
      const p = this.projects.get(saved.project);
      if (!p || saved.until <= now) continue;
      const until = this.fromWall(saved.until);
      this.breaker(p, saved.model).restore({ state: saved.state === 'cooling' ? 'open' : 'exhausted', until, reason: saved.reason });
    }
  }

  private limiter(state: RouteState): ModelLimiter {
    // Limits and their sharing come with the route: the limiter is given them, and asks nothing back.
    state.limiter ??= new ModelLimiter(state.route.limits, this.now, this.options.coordinator?.limiterHooks(state.route.quotaKey));
    return state.limiter;
  }

  /** Which kind of quota a 429 from this project and model speaks for (shared capacity, fixed, daily). A lease's route says it too (`kindOf429`). */
  quotaKindOf429(name: string, model: string, error: QuotaExhaustedError): QuotaKind {
    const p = this.projects.get(name);
    if (!p) return error.perDay ? 'daily' : 'fixed';
    return kindOf429(this.routeOf(p, model), error);
  }

  /** The adaptive window of the model at the project's location, when shared capacity governs it. */
  private windowOf(state: RouteState): CapacityWindow | undefined {
    if (state.window === undefined) state.window = this.windowAt(state.route) ?? null;
    return state.window ?? undefined;
  }

  /** The one window of a route's model and location (none when shared capacity does not govern it). */
  private windowAt(route: ModelRoute): CapacityWindow | undefined {
    const key = route.windowKey;
    if (key === undefined) return undefined;
    let entry = this.windows.get(key);
    if (!entry) {
      // Every run on this host (or on the Redis) shares one window per model and location; alone, a window in memory.
      const coordinator = this.options.coordinator;
      const window = coordinator ? new SharedCapacityWindow(coordinator, key, this.wallNow, () => this.notify()) : new AdaptiveWindow({ now: this.now });
      entry = { model: route.model, location: route.location, window };
      this.windows.set(key, entry);
    }
    return entry.window;
  }

  /** Every shared-capacity window in use: model, location, limit, calls in flight, successes and refusals. */
  capacityWindows(): CapacityWindowSnapshot[] {
    return [...this.windows.values()].map((w) => ({ model: w.model, location: w.location, ...w.window.snapshot() }));
  }

  /**
   * A 429 of shared capacity: counted on the project (no cooldown: another project would not have
   * more). Returns what the call waits on, for messages: the model's shared capacity at the location.
   */
  capacityRefused(name: string, model: string): string {
    const p = this.projects.get(name);
    if (p) p.rejected429 += 1;
    return `shared capacity of ${model} in ${p ? this.routeOf(p, model).location : 'its location'}`;
  }

  private requestsToday(p: ProjectHandle, route: ModelRoute): number {
    const { model } = route;
    const now = this.wallNow();
    if (now >= p.dayEndsAt) {
      p.today.clear();
      p.dayEndsAt = nextDailyReset(now);
    }
    let count = p.today.get(model);
    if (count === undefined) {
      count = this.options.requestsToday?.(p.credentials.name, model) ?? 0;
      p.today.set(model, count);
    }
    // Other runs' requests to the same project count too.
    const shared = this.options.coordinator?.requestsToday(route.quotaKey, p.dayEndsAt);
    return shared === undefined ? count : Math.max(count, shared);
  }

  private order(ready: ProjectHandle[]): ProjectHandle[] {
    if (this.strategy === 'fill-first') return ready;
    if (this.strategy === 'least-loaded') return [...ready].sort((a, b) => a.inFlight - b.inFlight);
    const start = this.cursor % ready.length;
    this.cursor = (this.cursor + 1) % Math.max(1, ready.length);
    return [...ready.slice(start), ...ready.slice(0, start)];
  }

  /** Whether the project may take a call for the model now: its breaker lets one pass and `rpd` is not reached. */
  private usable(p: ProjectHandle, model: string): boolean {
    if (p.removed || p.disabled !== undefined || !this.canServe(p, model)) return false;
    const route = this.stateOf(p, model);
    const { breaker } = route;
    const state = breaker.state;
    if (state === 'open' || state === 'exhausted') return false;
    if (state === 'half_open' && breaker.probeInFlight) return false;
    if (this.windowOf(route)?.hasRoom() === false) return false;
    const rpd = route.route.limits.rpd;
    if (rpd !== undefined && this.requestsToday(p, route.route) >= rpd) {
      breaker.failure({ reason: `rpd ${rpd} reached`, perDay: true, resetAt: this.fromWall(p.dayEndsAt) });
      return false;
    }
    return true;
  }

  /** Whether the project could ever serve the model in this run (its API has it, and it was not refused). */
  private canServe(p: ProjectHandle, model: string): boolean {
    return !p.unavailable.has(model) && this.routeOf(p, model).served;
  }

  private members(model: string, pool: string | undefined, onlyProject: string | undefined, api?: ProjectApi): ProjectHandle[] {
    void model;
    return [...this.projects.values()].filter(
      (p) =>
        !p.removed &&
        (api === undefined || (p.credentials.api ?? 'vertex') === api) &&
        (onlyProject !== undefined ? p.credentials.name === onlyProject : pool === undefined || p.credentials.pool === pool),
    );
  }

  /** Whether a call for `model` on `pool` could be leased now; if not, why and until when. Never waits. */
  availability(model: string, pool: string | undefined, onlyProject?: string): Availability {
    const unshared = this.coordinationDown();
    if (unshared) return { state: 'waiting', until: undefined, reason: unshared };
    const inPool = this.members(model, pool, onlyProject);
    const enabled = inPool.filter((p) => p.disabled === undefined);
    const candidates = enabled.filter((p) => this.canServe(p, model));
    if (candidates.length === 0 && enabled.length > 0) {
      const why = enabled.map(
        (p) => `${p.credentials.name}: ${p.unavailable.get(model) ?? `the ${p.credentials.api === 'gemini' ? 'Gemini' : 'Vertex AI'} API does not serve it`}`,
      );
      return { state: 'unusable', reason: `no project can use ${model} (${why.join('; ')})` };
    }
    if (candidates.length === 0) {
      return {
        state: 'unusable',
        reason:
          inPool.length === 0
            ? onlyProject !== undefined
              ? `project "${onlyProject}" is no longer in the credentials file`
              : `no project belongs to pool "${pool ?? 'default'}"`
            : `every project is disabled (${inPool.map((p) => `${p.credentials.name}: ${p.disabled ?? 'disabled'}`).join('; ')})`,
      };
    }
    if (candidates.some((p) => this.usable(p, model))) return { state: 'ready' };
    const full = candidates
      .map((p) => this.stateOf(p, model))
      .map((state) => ({ state, window: this.windowOf(state) }))
      .find((c) => c.window && !c.window.hasRoom() && c.state.breaker.state === 'closed');
    if (full?.window) {
      // Shared capacity: calls are in flight and the window is full; it opens as they end (other runs' calls end unseen: look again soon).
      const { limit, inFlight } = full.window.snapshot();
      return {
        state: 'waiting',
        until: full.window.shared ? this.now() + SHARED_WINDOW_POLL_MS : undefined,
        reason: `waiting on shared capacity of ${model} in ${full.state.route.location} (window ${limit}, ${inFlight} in flight)`,
        sharedCapacity: true,
      };
    }
    const breakers = candidates.map((p) => this.breaker(p, model));
    const probing = breakers.some((b) => b.state === 'half_open');
    const times = breakers.map((b) => b.until).filter((t): t is number => t !== undefined);
    const exhausted = breakers.every((b) => b.state === 'exhausted');
    const until = probing || times.length === 0 ? undefined : Math.min(...times);
    // Every project unreachable: an outage, which limits.max_outage (not max_stall) bounds.
    const outages = candidates.map((p) => p.outageSince);
    if (outages.every((t): t is number => t !== undefined)) {
      return {
        state: 'waiting',
        until,
        reason: `every project's endpoint is unreachable (${breakers[0]?.reason ?? 'no connection'})`,
        outageSince: Math.min(...outages),
      };
    }
    const reason = probing ? 'waiting for a probe' : exhausted ? 'every project is out of its daily quota' : 'every project is cooling down';
    // Out of the daily quota everywhere: `until` is the daily reset (the run may stop at once: see stopsForDailyReset).
    return { state: 'waiting', until, reason, ...(exhausted && !probing ? { daily: true as const } : {}) };
  }

  /** Why no call may be made while coordination is needed and cannot be reached (never unshared limits instead). */
  private coordinationDown(): string | undefined {
    const coordinator = this.options.coordinator;
    const health = coordinator?.health();
    if (!coordinator || !health || health.ok) return undefined;
    return `the coordination server ${coordinator.where} cannot be reached (${health.reason}); nothing is sent until it is back`;
  }

  /**
   * Leases a project that may take a call for `model` now, waiting only for its limiter (spacing,
   * concurrency, tokens). Undefined when none is ready (the caller parks the work instead).
   */
  async acquire(
    model: string,
    pool: string | undefined,
    signal: AbortSignal,
    estimatedTokens = 0,
    onlyProject?: string,
    /** Only projects of this API (Vertex AI batch prediction needs a Vertex project). */
    api?: ProjectApi,
  ): Promise<Lease | undefined> {
    if (this.coordinationDown()) return undefined;
    const ready = this.members(model, pool, onlyProject, api).filter((p) => this.usable(p, model));
    if (ready.length === 0 || signal.aborted) return undefined;
    const ordered = this.order(ready);
    let chosen: ProjectHandle | undefined;
    const limiterOf = (p: ProjectHandle): ModelLimiter => this.limiter(this.stateOf(p, model));
    for (const p of ordered) {
      if (await limiterOf(p).ready()) {
        chosen = p;
        break;
      }
    }
    // None can start this instant: queue on the one with the shortest line (first by strategy on ties).
    chosen ??= ordered.reduce((a, b) => (limiterOf(b).queued() < limiterOf(a).queued() ? b : a));
    return this.take(chosen, this.stateOf(chosen, model), signal, estimatedTokens);
  }

  /** The client of a project, for polling an operation it started (no lease: polls are not quota-bound calls). */
  clientFor(name: string): GoogleGenAI | undefined {
    const p = this.projects.get(name);
    if (!p) return undefined;
    if (!p.client) p.client = this.options.createClient(p.credentials);
    return p.client;
  }

  private async take(p: ProjectHandle, state: RouteState, signal: AbortSignal, estimatedTokens: number): Promise<Lease | undefined> {
    const { model } = state.route;
    let gaveUp = false;
    const limiter = this.limiter(state);
    const coordinator = this.options.coordinator;
    const slotPromise = limiter.acquire(estimatedTokens, () => gaveUp || !this.usable(p, model) || this.coordinationDown() !== undefined);
    const abort = whenAborted(signal);
    // A wait on a Redis-clustered limiter ends when Redis is lost: the work is parked, not held.
    const lost = coordinator ? whenAborted(coordinator.lostSignal()) : undefined;
    const slot: LimiterSlot | undefined | 'aborted' = await Promise.race([slotPromise, abort.promise, ...(lost ? [lost.promise] : [])]);
    abort.dispose();
    lost?.dispose();
    if (slot === 'aborted') {
      gaveUp = true;
      void slotPromise.then((s) => s?.release(undefined, false)).catch(() => undefined);
      return undefined;
    }
    if (!slot) return undefined;
    const { breaker, route } = state;
    let pass = this.usable(p, model) ? breaker.tryPass() : undefined;
    // `rpd` across runs: the day's count is taken atomically where every run counts.
    const rpd = route.limits.rpd;
    if (pass && coordinator && rpd !== undefined) {
      const counted = await coordinator.countRequest(route.quotaKey, rpd, p.dayEndsAt, p.today.get(model) ?? 0).catch(() => 'lost' as const);
      if (counted !== true) {
        if (counted === false)
          breaker.failure({ reason: `rpd ${rpd} reached (counted with the other runs)`, perDay: true, resetAt: this.fromWall(p.dayEndsAt) });
        else if (pass.probe) breaker.probeEnded();
        pass = undefined;
      }
    }
    // Shared capacity: a place in the model and location's window (taken last, so a refused lease holds none).
    let ticket: WindowTicket | undefined;
    const window = pass ? this.windowOf(state) : undefined;
    if (pass && window) {
      ticket = await window.acquire();
      if (!ticket) {
        if (pass.probe) breaker.probeEnded();
        pass = undefined;
      }
    }
    if (!pass) {
      slot.release(undefined, false);
      return undefined;
    }
    if (pass.probe) state.probeStartedAt = this.now();
    p.inFlight += 1;
    p.requests += 1;
    // The day's count is kept only where `rpd` needs it: reading it first counts the ledger's rows of the day.
    // Counted by the coordinator just now, the request is already in the shared count requestsToday reads (once, not twice).
    if (rpd !== undefined) p.today.set(model, this.requestsToday(p, route) + (coordinator ? 0 : 1));
    if (!p.client) p.client = this.options.createClient(p.credentials);
    let released = false;
    return {
      project: p.credentials,
      model,
      route,
      client: p.client,
      probe: pass.probe,
      release: (actualTokens?: number, outcome?: WindowOutcome) => {
        if (released) return;
        released = true;
        p.inFlight -= 1;
        slot.release(actualTokens);
        ticket?.end(outcome ?? 'none');
        // A probe that ended without a verdict (not a success, not a 429) lets another probe pass.
        if (pass.probe) queueMicrotask(() => breaker.probeEnded());
        this.notify();
      },
    };
  }

  /** A call succeeded: the project is healthy for the model (a probe closes its breaker). */
  succeeded(name: string, model: string, costUsd: number, startedAt?: number): void {
    const p = this.projects.get(name);
    if (!p) return;
    p.costUsd += costUsd;
    p.outageSince = undefined;
    const state = this.stateOf(p, model);
    this.limiter(state).succeeded();
    const { breaker, route, probeStartedAt } = state;
    // A probe that got through: the quota is back for every run (a cooldown recorded before it started is cleared).
    const probeStart = breaker.state === 'half_open' && breaker.probeInFlight ? probeStartedAt : undefined;
    breaker.success(startedAt === undefined ? {} : { startedAt });
    const since = startedAt ?? probeStart;
    if (since !== undefined) this.options.coordinator?.clearCooldown(route.quotaKey, since);
  }

  /** A 429: the project cools down for the model (the given delay, else 30 s doubling), or is out for the day. Returns until when. */
  cooldown(name: string, model: string, options: { retryAfterMs?: number; perDay?: boolean; reason: string; startedAt?: number; quota?: NamedQuota }): number {
    const p = this.projects.get(name);
    if (!p) return this.now();
    p.rejected429 += 1;
    const state = this.stateOf(p, model);
    this.limiter(state).rejected(options.startedAt, {
      ...options.quota,
      ...(options.retryAfterMs === undefined ? {} : { retryAfterMs: options.retryAfterMs }),
    });
    const until = state.breaker.failure({ ...options, resetAt: this.fromWall(nextDailyReset(this.wallNow())) });
    // Every other run using this project and model cools down with it.
    if (until > this.now()) {
      const shared = { key: state.route.quotaKey, model, until: this.toWall(until), reason: options.reason, perDay: options.perDay ?? false };
      this.options.coordinator?.publishCooldown(shared);
    }
    return until;
  }

  /**
   * The project's endpoint could not be reached (nothing was sent): it waits and is probed again,
   * sooner at first (1 s), then up to every 30 s as the outage goes on. Returns until when.
   */
  outage(name: string, model: string, options: { reason: string; startedAt: number }): number {
    const p = this.projects.get(name);
    if (!p) return this.now();
    const now = this.now();
    p.outageSince ??= options.startedAt;
    const retryAfterMs = Math.min(OUTAGE_CAP_MS, Math.max(OUTAGE_BASE_MS, (now - p.outageSince) / 2));
    return this.breaker(p, model).failure({ reason: options.reason, retryAfterMs, startedAt: options.startedAt });
  }

  /** A 404/403 for the model alone: the project takes no more calls for that model in this run. */
  modelUnavailable(name: string, model: string, reason: string): void {
    const p = this.projects.get(name);
    if (!p || p.unavailable.has(model)) return;
    p.unavailable.set(model, reason);
    this.notify();
  }

  /** A 401/403: the project takes no more calls in this run. */
  disable(name: string, reason: string): void {
    const p = this.projects.get(name);
    if (!p || p.disabled !== undefined) return;
    p.disabled = reason;
    this.options.onStateChange?.(this.snapshotOf(p));
    this.notify();
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
      const connectionChanged =
        JSON.stringify([current.credentials.project, current.credentials.location, current.credentials.auth, current.credentials.endpoint]) !==
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
      this.reroute(current);
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

  /**
   * A changed entry: its models are resolved again. Breakers keep their health; limiters take the
   * new limits (under the keys they were built with); the window is looked up again (the kind may change).
   */
  private reroute(p: ProjectHandle): void {
    p.routes.clear();
    for (const [model, state] of p.models) {
      state.route = this.routeOf(p, model);
      state.window = undefined;
      state.limiter?.update(state.route.limits);
    }
  }

  /** An instant of the pool's clock on the wall clock (saved, shared, shown), and back. */
  private toWall(at: number): number {
    return at - this.now() + this.wallNow();
  }

  private fromWall(wallAt: number): number {
    return wallAt - this.wallNow() + this.now();
  }

  /** Persistable health: cooldowns and daily exhaustion still in force, per project and model. */
  persistable(): PersistedProjectState[] {
    const out: PersistedProjectState[] = [];
    for (const p of this.projects.values()) {
      for (const [model, { breaker }] of p.models) {
        const saved = breaker.save();
        if (saved)
          out.push({
            project: p.credentials.name,
            model,
            state: saved.state === 'open' ? 'cooling' : 'exhausted',
            until: this.toWall(saved.until),
            reason: saved.reason,
          });
      }
    }
    return out;
  }
}
