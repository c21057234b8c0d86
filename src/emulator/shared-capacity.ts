/**
 * Vertex's dynamic shared quota, played: Gemini capacity belongs to a model in a location, not to a
 * project, so every project calling that model there draws on one pool. Above the pool's limit a
 * call is refused with the bare 429 whatever project sent it. The limit is calls in flight (being
 * answered, latency included) or requests per second (a sliding 1 s window of admitted calls), and
 * may change over time; a schedule's clock starts at the first call of that model in that location.
 */

import type { EmulatedApi } from './emulated-api.js';
import type { EmulatorConfig, ProjectConfig } from './emulator-config.js';
import { modelFamily } from './model-family.js';

export type CapacityLimit = { in_flight: number } | { rps: number };
export type CapacityStep = CapacityLimit & { at: number };
/** One limit, or steps `{ at, ...limit }` in the order of `at` (ms from the first call). */
export type CapacitySpec = CapacityLimit | readonly CapacityStep[];

export type CapacityVerdict = { kind: 'ok'; release: () => void } | { kind: 'refused'; limit: CapacityLimit };

export interface CapacityLaneStats {
  /** The limit in force now. */
  limit: CapacityLimit;
  in_flight: number;
  peak_in_flight: number;
  /** Calls admitted in the last second. */
  last_second: number;
  admitted: number;
  rejected_429: number;
}

const SECOND_MS = 1000;

/**
 * Calls in flight a Vertex Gemini model shares per location when the config names no capacity for
 * it: generous, so that jobs and tests without a word about capacity never meet it by accident.
 */
export const DEFAULT_SHARED_IN_FLIGHT = 64;

function declaresQuota(config: ProjectConfig | undefined, model: string): boolean {
  if (!config) return false;
  const declared = (limits: {
    rpm?: number | undefined;
    requests?: number | undefined;
    rpd?: number | undefined;
    exhaust_after?: number | undefined;
  }): boolean => limits.rpm !== undefined || limits.requests !== undefined || limits.rpd !== undefined || limits.exhaust_after !== undefined;
  const modelLimits = config.models[model];
  return declared(config) || (modelLimits !== undefined && declared(modelLimits));
}

/**
 * The shared capacity a call draws on, if any. Named in `shared_capacity` (exact names before `*`):
 * every Vertex project's calls. Otherwise Vertex Gemini models (dynamic shared quota) get
 * DEFAULT_SHARED_IN_FLIGHT, unless the project declares a quota for the model (then it is a
 * per-project quota). Gemini API keys have per-key quotas, never shared capacity.
 */
export function capacityFor(config: EmulatorConfig, api: EmulatedApi, project: string, location: string, model: string): CapacitySpec | undefined {
  if (api !== 'vertex') return undefined;
  const table = config.shared_capacity;
  const named = table[location]?.[model] ?? table[location]?.['*'] ?? table['*']?.[model] ?? table['*']?.['*'];
  if (named) return named;
  const family = modelFamily(model);
  if ((family === 'gemini' || family === 'gemini-image') && !declaresQuota(config.projects[project], model)) return { in_flight: DEFAULT_SHARED_IN_FLIGHT };
  return undefined;
}

interface Lane {
  origin: number;
  spec: CapacitySpec;
  inFlight: number;
  peakInFlight: number;
  /** Admission times within the last second, oldest first. */
  starts: number[];
  admitted: number;
  rejected: number;
}

/** The limit in force `elapsed` ms after the schedule's start: the last step already reached (the first before any). */
export function limitAt(spec: CapacitySpec, elapsed: number): CapacityLimit {
  if (!Array.isArray(spec)) return spec as CapacityLimit;
  const steps = spec as readonly CapacityStep[];
  let current = steps[0];
  for (const step of steps) if (step.at <= elapsed) current = step;
  if (!current) throw new Error('a capacity schedule needs at least one step');
  return 'rps' in current ? { rps: current.rps } : { in_flight: current.in_flight };
}

export class SharedCapacity {
  private lanes = new Map<string, Lane>();

  /** Admits a call to `model` in `location` when the pool has room; the caller releases it once answered. */
  admit(location: string, model: string, spec: CapacitySpec, now: number): CapacityVerdict {
    const lane = this.lane(location, model, spec, now);
    lane.spec = spec;
    const limit = limitAt(spec, now - lane.origin);
    this.expire(lane, now);
    const full = 'rps' in limit ? lane.starts.length >= limit.rps : lane.inFlight >= limit.in_flight;
    if (full) {
      lane.rejected++;
      return { kind: 'refused', limit };
    }
    lane.admitted++;
    lane.starts.push(now);
    lane.inFlight++;
    lane.peakInFlight = Math.max(lane.peakInFlight, lane.inFlight);
    let released = false;
    return {
      kind: 'ok',
      release: () => {
        if (released) return;
        released = true;
        lane.inFlight--;
      },
    };
  }

  /** Per location, per model: the limit now, calls in flight, admitted and refused. */
  snapshot(now: number): Record<string, Record<string, CapacityLaneStats>> {
    const out: Record<string, Record<string, CapacityLaneStats>> = {};
    for (const [key, lane] of this.lanes) {
      const [location = '', model = ''] = key.split('\u0000');
      this.expire(lane, now);
      (out[location] ??= {})[model] = {
        limit: limitAt(lane.spec, now - lane.origin),
        in_flight: lane.inFlight,
        peak_in_flight: lane.peakInFlight,
        last_second: lane.starts.length,
        admitted: lane.admitted,
        rejected_429: lane.rejected,
      };
    }
    return out;
  }

  /** Forgets every pool (calls still in flight release into pools no longer counted). */
  reset(): void {
    this.lanes.clear();
  }

  private lane(location: string, model: string, spec: CapacitySpec, now: number): Lane {
    const key = `${location}\u0000${model}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { origin: now, spec, inFlight: 0, peakInFlight: 0, starts: [], admitted: 0, rejected: 0 };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  private expire(lane: Lane, now: number): void {
    let expired = 0;
    while (expired < lane.starts.length && (lane.starts[expired] ?? 0) <= now - SECOND_MS) expired++;
    if (expired > 0) lane.starts.splice(0, expired);
  }
}
