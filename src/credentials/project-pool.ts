import type { GoogleGenAI } from '@google/genai';
import type { ProjectSnapshot } from '../engine/events.js';
import { NoUsableProjectError, StalledOnQuotaError, StopRequestedError } from '../errors/run-errors.js';
import { sleep } from '../resilience/backoff.js';
import type { Credentials, ProjectCredentials, Strategy } from './credentials.js';

/** A project lent to one call. `release` must be called exactly once, when the call has ended. */
export interface Lease {
  project: ProjectCredentials;
  client: GoogleGenAI;
  release(): void;
}

interface ProjectHandle {
  credentials: ProjectCredentials;
  client: GoogleGenAI | undefined;
  state: ProjectSnapshot['state'];
  until: number;
  reason: string | undefined;
  consecutive429: number;
  inFlight: number;
  requests: number;
  rejected429: number;
  costUsd: number;
}

export interface ProjectPoolOptions {
  maxStallMs: number;
  createClient: (project: ProjectCredentials) => GoogleGenAI;
  now?: () => number;
  onWaiting?: (reason: string, untilMs: number) => void;
  onStateChange?: (snapshot: ProjectSnapshot) => void;
}

const COOLDOWN_BASE_MS = 30_000;
const COOLDOWN_CAP_MS = 10 * 60_000;

/** The next local midnight in Pacific time, when Vertex resets per-day quotas (approximated as UTC-8). */
export function nextDailyReset(nowMs: number): number {
  const offset = 8 * 3_600_000;
  const day = 86_400_000;
  return Math.floor((nowMs - offset) / day) * day + day + offset;
}

/**
 * The projects a run may use and their health: which one takes the next call (strategy), which are
 * cooling down after a 429, out for the day, or disabled. When every project is cooling down, callers
 * wait here (nothing is sent) until one is back or the stall limit passes.
 */
export class ProjectPool {
  private readonly projects = new Map<string, ProjectHandle>();
  private strategy: Strategy;
  private cursor = 0;
  private stalledSince: number | undefined;
  private readonly now: () => number;

  constructor(
    credentials: Credentials,
    private readonly options: ProjectPoolOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.strategy = credentials.strategy;
    for (const project of credentials.projects) this.projects.set(project.name, this.newHandle(project));
  }

  private newHandle(credentials: ProjectCredentials): ProjectHandle {
    return {
      credentials,
      client: undefined,
      state: credentials.enabled ? 'active' : 'disabled',
      until: 0,
      reason: credentials.enabled ? undefined : 'disabled in the credentials file',
      consecutive429: 0,
      inFlight: 0,
      requests: 0,
      rejected429: 0,
      costUsd: 0,
    };
  }

  snapshot(): ProjectSnapshot[] {
    return [...this.projects.values()].map((p) => this.snapshotOf(p));
  }

  private snapshotOf(p: ProjectHandle): ProjectSnapshot {
    return {
      name: p.credentials.name,
      state: p.state,
      requests: p.requests,
      rejected429: p.rejected429,
      costUsd: p.costUsd,
      ...(p.state === 'cooling' || p.state === 'exhausted' ? { until: p.until } : {}),
      ...(p.reason === undefined ? {} : { reason: p.reason }),
    };
  }

  private candidates(pool: string | undefined): ProjectHandle[] {
    return [...this.projects.values()].filter((p) => p.state !== 'disabled' && (pool === undefined || p.credentials.pool === pool));
  }

  private refresh(p: ProjectHandle): void {
    if ((p.state === 'cooling' || p.state === 'exhausted') && p.until <= this.now()) {
      p.state = 'active';
      p.reason = undefined;
      this.options.onStateChange?.(this.snapshotOf(p));
    }
  }

  private pick(ready: ProjectHandle[]): ProjectHandle {
    if (this.strategy === 'fill-first') return ready[0] as ProjectHandle;
    if (this.strategy === 'least-loaded') return ready.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const chosen = ready[this.cursor % ready.length] as ProjectHandle;
    this.cursor = (this.cursor + 1) % Math.max(1, ready.length);
    return chosen;
  }

  /** Waits for a project that may take a call now. Throws when stalled past the limit or stopping. */
  async acquire(_model: string, pool: string | undefined, signal: AbortSignal): Promise<Lease> {
    for (;;) {
      if (signal.aborted) throw new StopRequestedError();
      const candidates = this.candidates(pool);
      if (candidates.length === 0) {
        const all = [...this.projects.values()].filter((p) => pool === undefined || p.credentials.pool === pool);
        throw new NoUsableProjectError(
          all.length === 0
            ? `no project belongs to pool "${pool}"`
            : `every project is disabled (${all.map((p) => `${p.credentials.name}: ${p.reason ?? 'disabled'}`).join('; ')})`,
        );
      }
      candidates.forEach((p) => this.refresh(p));
      const ready = candidates.filter((p) => p.state === 'active');
      if (ready.length > 0) {
        const chosen = this.pick(ready);
        chosen.inFlight += 1;
        chosen.requests += 1;
        if (!chosen.client) chosen.client = this.options.createClient(chosen.credentials);
        let released = false;
        return {
          project: chosen.credentials,
          client: chosen.client,
          release: () => {
            if (released) return;
            released = true;
            chosen.inFlight -= 1;
          },
        };
      }
      const now = this.now();
      this.stalledSince ??= now;
      const earliest = Math.min(...candidates.map((p) => p.until));
      const stalledFor = now - this.stalledSince;
      if (stalledFor >= this.options.maxStallMs) throw new StalledOnQuotaError(earliest, stalledFor);
      const wakeAt = Math.min(earliest, this.stalledSince + this.options.maxStallMs);
      this.options.onWaiting?.(`every project${pool ? ` of pool "${pool}"` : ''} is cooling down`, earliest);
      await sleep(Math.max(5, wakeAt - now), signal);
    }
  }

  /** A call succeeded: the project is healthy and the run is not stalled. */
  succeeded(name: string, costUsd: number): void {
    const p = this.projects.get(name);
    if (!p) return;
    p.consecutive429 = 0;
    p.costUsd += costUsd;
    this.stalledSince = undefined;
  }

  /** A 429: the project cools down (for the given delay, else exponentially from 30 s). */
  cooldown(name: string, options: { retryAfterMs?: number; perDay?: boolean; reason: string }): number {
    const p = this.projects.get(name);
    if (!p) return this.now();
    p.rejected429 += 1;
    p.consecutive429 += 1;
    const now = this.now();
    if (options.perDay) {
      p.state = 'exhausted';
      p.until = nextDailyReset(now);
    } else {
      const delay = options.retryAfterMs ?? Math.min(COOLDOWN_CAP_MS, COOLDOWN_BASE_MS * 2 ** (p.consecutive429 - 1));
      p.state = 'cooling';
      p.until = Math.max(p.until, now + delay);
    }
    p.reason = options.reason;
    this.options.onStateChange?.(this.snapshotOf(p));
    return p.until;
  }

  /** A 401/403: the project takes no more calls in this run. */
  disable(name: string, reason: string): void {
    const p = this.projects.get(name);
    if (!p) return;
    p.state = 'disabled';
    p.reason = reason;
    this.options.onStateChange?.(this.snapshotOf(p));
  }
}
