import { nextDailyReset, quotaDay } from '../resilience/quota-day.js';
import type { ProjectConfig, QuotaLimits } from './emulator-config.js';

/**
 * Quota accounting like Vertex's: sliding windows over accepted requests (per project and, when
 * configured, per project and model) and a per-day count that resets at midnight Pacific time, as Google's does.
 */
export type QuotaVerdict =
  | { kind: 'ok' }
  | { kind: 'per_day'; limit: number; scope: string; retryAfterMs: number }
  | { kind: 'window'; limit: number; windowMs: number; scope: string; retryAfterMs: number };

const MINUTE_MS = 60_000;

interface Scope {
  key: string;
  label: string;
  limits: QuotaLimits;
}

/** The windows a set of limits defines: `rpm` is a 60 s window, `requests` per `window` another. */
function windowsOf(limits: QuotaLimits): { limit: number; windowMs: number }[] {
  const windows: { limit: number; windowMs: number }[] = [];
  if (limits.rpm !== undefined) windows.push({ limit: limits.rpm, windowMs: MINUTE_MS });
  if (limits.requests !== undefined && limits.window !== undefined) windows.push({ limit: limits.requests, windowMs: limits.window });
  return windows;
}

/** The smallest per-day cap of a set of limits (`rpd` or `exhaust_after`). */
function dailyCap(limits: QuotaLimits): number | undefined {
  const caps = [limits.rpd, limits.exhaust_after].filter((cap): cap is number => cap !== undefined);
  return caps.length === 0 ? undefined : Math.min(...caps);
}

export class QuotaTracker {
  /** Accepted-request timestamps per scope and window length, oldest first. */
  private windows = new Map<string, number[]>();
  private daily = new Map<string, { day: string; count: number }>();

  /** Checks every limit that applies and, when all pass, counts the request as accepted. */
  admit(project: string, model: string, config: ProjectConfig | undefined, now: number): QuotaVerdict {
    if (!config) return { kind: 'ok' };
    const scopes: Scope[] = [{ key: `p:${project}`, label: `project ${project}`, limits: config }];
    const modelLimits = config.models[model];
    if (modelLimits) scopes.push({ key: `m:${project}/${model}`, label: `project ${project}, model ${model}`, limits: modelLimits });

    for (const scope of scopes) {
      const cap = dailyCap(scope.limits);
      if (cap !== undefined && this.dailyCount(scope.key, now) >= cap) {
        return { kind: 'per_day', limit: cap, scope: scope.label, retryAfterMs: nextDailyReset(now) - now };
      }
    }

    let worst: QuotaVerdict | undefined;
    for (const scope of scopes) {
      for (const { limit, windowMs } of windowsOf(scope.limits)) {
        const stamps = this.stamps(`${scope.key}|${windowMs}`, now, windowMs);
        if (stamps.length < limit) continue;
        // The slot frees when the request `limit` places back leaves the window.
        const retryAfterMs = Math.max(1, (stamps[stamps.length - limit] ?? now) + windowMs - now);
        if (!worst || worst.kind !== 'window' || retryAfterMs > worst.retryAfterMs) {
          worst = { kind: 'window', limit, windowMs, scope: scope.label, retryAfterMs };
        }
      }
    }
    if (worst) return worst;

    for (const scope of scopes) {
      for (const { windowMs } of windowsOf(scope.limits)) this.stamps(`${scope.key}|${windowMs}`, now, windowMs).push(now);
      this.bumpDaily(scope.key, now);
    }
    return { kind: 'ok' };
  }

  reset(): void {
    this.windows.clear();
    this.daily.clear();
  }

  private stamps(key: string, now: number, windowMs: number): number[] {
    let stamps = this.windows.get(key);
    if (!stamps) {
      stamps = [];
      this.windows.set(key, stamps);
    }
    let expired = 0;
    while (expired < stamps.length && (stamps[expired] ?? 0) <= now - windowMs) expired++;
    if (expired > 0) stamps.splice(0, expired);
    return stamps;
  }

  private dailyCount(key: string, now: number): number {
    const entry = this.daily.get(key);
    return entry && entry.day === quotaDay(now) ? entry.count : 0;
  }

  private bumpDaily(key: string, now: number): void {
    const day = quotaDay(now);
    const entry = this.daily.get(key);
    if (entry && entry.day === day) entry.count++;
    else this.daily.set(key, { day, count: 1 });
  }
}
