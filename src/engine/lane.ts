import type { Availability, ProjectPool } from '../coordination/project-pool.js';
import { modelsOf, type Job } from '../job/job.js';
import type { EngineEvents } from './events.js';
import { laneKey, type Unit } from './unit.js';

/** Units of one pool and model, waiting for a project of that pool to be ready for that model. */
export interface Lane {
  key: string;
  pool: string | undefined;
  /** The step's model, then its fallbacks: the first that a project can serve now takes the call. */
  models: string[];
  /** The model that took the last call (announced when it changes). */
  serving: string;
  ready: Unit[];
  /** Units waiting out a retry backoff: they hold no worker meanwhile. */
  /** Units back after a backoff; `waitingOn`: refused by shared capacity (they wait, they do not move the run). */
  delayed: { unit: Unit; at: number; waitingOn?: string }[];
  /** A lease is being taken for this lane (one at a time, so the limiter's order is kept). */
  acquiring: boolean;
  /** Why no project can ever serve this lane in this run, if so. */
  unusable: string | undefined;
  /** The last waiting state announced, so `run:waiting` is said once per change. */
  announced: string | undefined;
  /** Since when every project of the lane has been unreachable, while that lasts. */
  outageSince: number | undefined;
}

/** The lanes of a run, by key; each turn serves them from a rotating start so that none is always last. */
export class Lanes {
  private readonly byKey = new Map<string, Lane>();
  private rotation = 0;

  constructor(private readonly job: Job) {}

  /** The unit's lane, made on first use. */
  of(unit: Unit): Lane {
    const key = laneKey(this.job, unit.step);
    let lane = this.byKey.get(key);
    if (!lane) {
      lane = newLane(this.job, unit);
      this.byKey.set(key, lane);
    }
    return lane;
  }

  /** Every lane, in the order they were made. */
  all(): Lane[] {
    return [...this.byKey.values()];
  }

  /** Every lane, starting one further along at each call. */
  rotated(): Lane[] {
    const lanes = this.all();
    const start = this.rotation++ % Math.max(1, lanes.length);
    return [...lanes.slice(start), ...lanes.slice(0, start)];
  }

  /** The unit waits out its backoff in its lane (`waitingOn`: refused by shared capacity). */
  delay(unit: Unit, at: number, waitingOn: string | undefined): void {
    this.of(unit).delayed.push({ unit, at, ...(waitingOn === undefined ? {} : { waitingOn }) });
  }

  /** Units ready in lanes that can move (not blocked, not unusable). */
  movableReady(blocked: (key: string) => boolean): number {
    let n = 0;
    for (const lane of this.byKey.values()) if (!blocked(lane.key) && lane.unusable === undefined) n += lane.ready.length;
    return n;
  }
}

export function newLane(job: Job, unit: Unit): Lane {
  return {
    key: laneKey(job, unit.step),
    pool: unit.step.pool ?? job.pool,
    models: modelsOf(unit.step),
    serving: unit.step.model,
    ready: [],
    delayed: [],
    acquiring: false,
    unusable: undefined,
    announced: undefined,
    outageSince: undefined,
  };
}

/**
 * The model that takes the lane's next call: its step's model when a project can serve it now,
 * else the first fallback that can. None can: the primary's state, waiting until the first of
 * them may be back (unusable only when none ever can in this run).
 */
export function chooseModel(
  lane: Lane,
  pool: ProjectPool,
  emit: <K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]) => void,
): { model: string; availability: Availability } {
  const primary = lane.models[0] as string;
  const states: { model: string; availability: Availability }[] = [];
  for (const model of lane.models) {
    const availability = pool.availability(model, lane.pool);
    if (availability.state === 'ready') {
      if (model !== lane.serving) {
        const why = states[0]?.availability;
        emit('model:fallback', {
          pool: lane.pool ?? 'default',
          model,
          primary,
          reason: model === primary ? `${primary} can be served again` : `${primary}: ${why && why.state !== 'ready' ? why.reason : 'not available'}`,
        });
        lane.serving = model;
      }
      return { model, availability };
    }
    states.push({ model, availability });
  }
  const only = states[0];
  if (states.length === 1 && only) return only;
  const reason = states.map((s) => `${s.model}: ${s.availability.state === 'ready' ? 'ready' : s.availability.reason}`).join('; ');
  const waiting = states.flatMap((s) => (s.availability.state === 'waiting' ? [{ model: s.model, ...s.availability }] : []));
  const first = waiting[0];
  if (!first) return { model: primary, availability: { state: 'unusable', reason } };
  const untils = waiting.map((w) => w.until);
  const until = untils.every((t): t is number => t !== undefined) ? Math.min(...untils) : undefined;
  const outages = waiting.map((w) => w.outageSince);
  return {
    model: first.model,
    availability: {
      state: 'waiting',
      until,
      reason,
      ...(outages.every((t): t is number => t !== undefined) ? { outageSince: Math.min(...outages) } : {}),
    },
  };
}

export function describeLane(lane: { pool: string | undefined; models: string[] }): string {
  return `pool "${lane.pool ?? 'default'}", model ${lane.models.join(' (fallback: ') + (lane.models.length > 1 ? ')' : '')}`;
}
