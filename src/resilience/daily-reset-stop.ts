import type { BlockedLane } from './stall-watch.js';

/**
 * How long every lane must have waited on the reset before the run stops: the exhaustion is seen
 * a few times, not at one instant (around a Pacific midnight the new day's count is taken from the
 * ledger and the runs sharing the projects, and an `rpd` can look reached for a moment).
 */
export const DAILY_RESET_CONFIRM_MS = 5_000;

/**
 * Whether a run in which nothing can move should stop now instead of waiting out limits.max_stall:
 * every lane with work left waits on a known daily reset (each of its projects is out of its per-day
 * quota) that is further away than max_stall. Waiting could only end in the same exit 75, some
 * minutes later, having said "expected back in 6h" all along; stopping at once lets the scheduler
 * (cron, systemd) start the next pass after the reset.
 *
 * `waiting`: the keys of the lanes with work left; `blocked`: why each blocked lane is waiting (the
 * stall watch's view); `now` and the expected times on the same (monotonic) clock; `stalledForMs`:
 * how long nothing could move (see DAILY_RESET_CONFIRM_MS).
 */
export function stopsForDailyReset(
  waiting: readonly string[],
  blocked: readonly BlockedLane[],
  now: number,
  limits: { maxStallMs: number; stalledForMs: number },
): boolean {
  const { maxStallMs, stalledForMs } = limits;
  if (waiting.length === 0 || stalledForMs < Math.min(maxStallMs, DAILY_RESET_CONFIRM_MS)) return false;
  const byKey = new Map(blocked.map((b) => [b.key, b]));
  return waiting.every((key) => {
    const lane = byKey.get(key);
    return lane?.daily === true && lane.expectedBackAt !== undefined && lane.expectedBackAt - now > maxStallMs;
  });
}
