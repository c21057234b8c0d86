import type { Availability } from '../coordination/project-pool.js';
import type { BlockedLane, StallWatch } from '../resilience/stall-watch.js';
import { steadyNow, toWall } from '../resilience/steady-clock.js';
import type { EngineEvents } from './events.js';
import { describeLane, type Lane } from './lane.js';

export type SchedulerOutcome =
  | { kind: 'finished' }
  | { kind: 'stopped' }
  | {
      kind: 'stalled';
      lanes: (BlockedLane & { pool: string; model: string })[];
      stalledForMs: number;
      completed: Record<string, number>;
      /** Since when every endpoint was unreachable, when that (limits.max_outage) is what stalled the run. */
      outageSince?: number;
    }
  | { kind: 'unusable'; reasons: string[] };

type Emit = <K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]) => void;

/** A lane no project can serve now: the stall watch learns why and until when, and people are told once per change. */
export function laneBlocked(lane: Lane, availability: Exclude<Availability, { state: 'ready' }>, stall: StallWatch, emit: Emit): void {
  lane.outageSince = availability.state === 'waiting' ? availability.outageSince : undefined;
  if (availability.state === 'unusable') {
    lane.unusable = availability.reason;
    stall.block(lane.key, undefined, availability.reason);
  } else {
    stall.block(lane.key, availability.until, availability.reason);
  }
  // A full shared-capacity window is the normal pace of a run (its calls are in flight): not announced.
  if (availability.state === 'waiting' && availability.sharedCapacity) return;
  const announcement = `${availability.reason}@${availability.state === 'waiting' ? (availability.until ?? '') : ''}`;
  if (lane.announced === announcement) return;
  lane.announced = announcement;
  emit('run:waiting', {
    reason: `${describeLane(lane)}: ${availability.reason}`,
    untilMs: toWall(availability.state === 'waiting' ? (availability.until ?? steadyNow()) : steadyNow()),
  });
}

/**
 * Nothing can move: the run is unusable, stalled (limits.max_stall) or out of reach (limits.max_outage),
 * or it waits; then when to look again.
 */
export function nothingMoves(lanes: Lane[], stall: StallWatch, maxOutageMs: number, now: number, completed: Record<string, number>): SchedulerOutcome | number {
  let nextAt = Number.POSITIVE_INFINITY;
  const waiting = lanes.filter((l) => l.ready.length > 0 || l.delayed.length > 0);
  if (waiting.length > 0 && waiting.every((l) => l.unusable !== undefined))
    return { kind: 'unusable', reasons: waiting.map((l) => `${describeLane(l)}: ${l.unusable ?? ''}`) };
  if (stall.expired()) return stalled(waiting, stall, completed);
  const left = stall.remainingMs();
  if (left !== undefined) nextAt = steadyNow() + left;
  // Every lane with work waits on unreachable endpoints: limits.max_outage bounds that, from the outage's start.
  const outages = waiting.map((l) => l.outageSince);
  if (outages.length > 0 && outages.every((t): t is number => t !== undefined)) {
    const since = Math.max(...outages);
    const deadline = since + maxOutageMs;
    if (now >= deadline) return stalled(waiting, stall, completed, since);
    nextAt = Math.min(nextAt, deadline);
  }
  return nextAt;
}

function stalled(waiting: Lane[], stall: StallWatch, completed: Record<string, number>, outageSince?: number): SchedulerOutcome {
  const byKey = new Map(waiting.map((l) => [l.key, l]));
  const lanes = stall
    .lanes()
    .filter((b) => byKey.has(b.key))
    .map((b) => {
      const lane = byKey.get(b.key) as Lane;
      // Shown to people (and saved): on the wall clock.
      const back = b.expectedBackAt === undefined ? {} : { expectedBackAt: toWall(b.expectedBackAt) };
      return { ...b, ...back, pool: lane.pool ?? 'default', model: lane.models.join(', ') };
    });
  return {
    kind: 'stalled',
    lanes,
    stalledForMs: outageSince === undefined ? stall.stalledForMs() : steadyNow() - outageSince,
    completed: { ...completed },
    ...(outageSince === undefined ? {} : { outageSince }),
  };
}
