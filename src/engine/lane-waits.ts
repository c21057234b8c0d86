import type { Availability, ProjectPool } from '../coordination/project-pool.js';
import type { BlockedLane, StallWatch } from '../resilience/stall-watch.js';
import { stopsForDailyReset } from '../resilience/daily-reset-stop.js';
import { steadyNow, toWall } from '../resilience/steady-clock.js';
import type { EngineEvents } from './events.js';
import { chooseModel, describeLane, type Lane } from './lane.js';
import type { Unit } from './unit.js';

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

export interface LaneTurn {
  stall: StallWatch;
  pool: ProjectPool;
  emit: Emit;
  /** A unit back from its backoff goes through the scheduler again (its operation may still run at Vertex). */
  enqueue: (unit: Unit) => void;
  /** Sends the lane's next call on `model`, if a call slot is free. */
  dispatch: (lane: Lane, model: string) => void;
}

/** One lane's turn: units back from their backoff rejoin it, and a call is dispatched if a project is ready. */
export function serveLane(lane: Lane, now: number, turn: LaneTurn): { canMove: boolean; nextAt: number } {
  const { stall } = turn;
  let canMove = false;
  let nextAt = Number.POSITIVE_INFINITY;
  const due = lane.delayed.filter((d) => d.at <= now);
  if (due.length > 0) {
    lane.delayed = lane.delayed.filter((d) => d.at > now);
    for (const d of due) turn.enqueue(d.unit);
  }
  for (const d of lane.delayed) nextAt = Math.min(nextAt, d.at);
  if (lane.delayed.some((d) => d.waitingOn === undefined)) canMove = true;
  else if (lane.delayed.length > 0 && lane.ready.length === 0) {
    // Every unit left here was refused by shared capacity: the lane waits on it (a stall, if nothing gets through for limits.max_stall).
    const first = lane.delayed[0] as { at: number; waitingOn?: string };
    stall.block(lane.key, undefined, `waiting on ${first.waitingOn ?? 'shared capacity'}: every call refused (429)`);
  }
  if (lane.ready.length === 0 || lane.acquiring) return { canMove, nextAt };
  const { model, availability } = chooseModel(lane, turn.pool, turn.emit);
  if (availability.state === 'ready') {
    lane.unusable = undefined;
    lane.outageSince = undefined;
    stall.unblock(lane.key);
    lane.announced = undefined;
    turn.dispatch(lane, model);
    return { canMove: true, nextAt };
  }
  laneBlocked(lane, availability, stall, turn.emit);
  if (availability.state === 'waiting' && availability.until !== undefined) nextAt = Math.min(nextAt, availability.until + 1);
  return { canMove, nextAt };
}

/** A lane no project can serve now: the stall watch learns why and until when, and people are told once per change. */
function laneBlocked(lane: Lane, availability: Exclude<Availability, { state: 'ready' }>, stall: StallWatch, emit: Emit): void {
  lane.outageSince = availability.state === 'waiting' ? availability.outageSince : undefined;
  if (availability.state === 'unusable') {
    lane.unusable = availability.reason;
    stall.block(lane.key, undefined, availability.reason);
  } else {
    stall.block(lane.key, availability.until, availability.reason, availability.daily === true);
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
export function nothingMoves(
  lanes: Lane[],
  stall: StallWatch,
  limits: { maxOutageMs: number; maxStallMs: number },
  now: number,
  completed: Record<string, number>,
): SchedulerOutcome | number {
  const { maxOutageMs, maxStallMs } = limits;
  let nextAt = Number.POSITIVE_INFINITY;
  const waiting = lanes.filter((l) => l.ready.length > 0 || l.delayed.length > 0);
  if (waiting.length > 0 && waiting.every((l) => l.unusable !== undefined))
    return { kind: 'unusable', reasons: waiting.map((l) => `${describeLane(l)}: ${l.unusable ?? ''}`) };
  // A known daily reset further than max_stall: waiting it out would end in the same stall, later.
  if (
    stall.expired() ||
    stopsForDailyReset(
      waiting.map((l) => l.key),
      stall.lanes(),
      steadyNow(),
      { maxStallMs, stalledForMs: stall.stalledForMs() },
    )
  )
    return stalled(waiting, stall, completed);
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
