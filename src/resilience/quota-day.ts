/**
 * Google resets per-day quotas at midnight Pacific time, summer time included (UTC-8 in winter,
 * UTC-7 from March to November). Per-day quotas therefore count Pacific days, whatever the host's zone.
 */
const QUOTA_TIME_ZONE = 'America/Los_Angeles';
const HOUR_MS = 3_600_000;

let pacific: Intl.DateTimeFormat | undefined | null;

/** The formatter for Pacific wall time, or null where Node was built without time-zone data. */
function pacificFormat(): Intl.DateTimeFormat | null {
  if (pacific === undefined) {
    try {
      pacific = new Intl.DateTimeFormat('en-US', {
        timeZone: QUOTA_TIME_ZONE,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      pacific = null;
    }
  }
  return pacific;
}

/** Pacific wall time at an instant, as the UTC instant with the same fields. */
function pacificWallTime(ms: number): number {
  const format = pacificFormat();
  if (!format) return ms - 8 * HOUR_MS;
  const field = (parts: Intl.DateTimeFormatPart[], type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const parts = format.formatToParts(ms);
  return Date.UTC(field(parts, 'year'), field(parts, 'month') - 1, field(parts, 'day'), field(parts, 'hour'), field(parts, 'minute'), field(parts, 'second'));
}

/** Pacific time's offset from UTC at an instant (ms; negative). */
function pacificOffset(ms: number): number {
  const whole = Math.floor(ms / 1000) * 1000;
  return pacificWallTime(whole) - whole;
}

/** The Pacific date (YYYY-MM-DD) of an instant: the quota day it counts in. */
export function quotaDay(nowMs: number): string {
  return new Date(pacificWallTime(nowMs)).toISOString().slice(0, 10);
}

/** The instant of Pacific midnight `days` after the start of the quota day of `nowMs` (0: its start). */
function pacificMidnight(nowMs: number, days: number): number {
  const wall = Math.floor(pacificWallTime(nowMs) / 86_400_000) * 86_400_000 + days * 86_400_000;
  // The offset in force at that midnight (summer time changes at 2 a.m., never at midnight).
  const guess = wall - pacificOffset(nowMs);
  return wall - pacificOffset(guess);
}

/** The instant the quota day of `nowMs` ends: the next midnight in Pacific time. */
export function nextDailyReset(nowMs: number): number {
  return pacificMidnight(nowMs, 1);
}

/** The instant the quota day of `nowMs` began (23 or 25 hours before its end on the days clocks change). */
export function quotaDayStart(nowMs: number): number {
  return pacificMidnight(nowMs, 0);
}
