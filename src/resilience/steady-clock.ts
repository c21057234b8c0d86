import { readFileSync } from 'node:fs';

/**
 * Clocks for timing that a wall-clock step (NTP, a resumed VM, an operator's `date -s`) must not
 * bend. Only daily quota resets and timestamps people read use the wall clock (`Date.now()`).
 */

/**
 * Milliseconds since the epoch that never step: the wall time at process start plus monotonic time
 * since. Cooldowns, pacing, backoffs and durations run on it; `toWall` converts an instant on it to
 * the wall clock for display, saved state and other processes.
 */
export function steadyNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The wall-clock instant of a steady one (they differ by the wall clock's steps since the process started). */
export function toWall(steadyMs: number): number {
  return steadyMs - steadyNow() + Date.now();
}

/** The steady instant of a wall-clock one (an instant saved by, or shared with, another process). */
export function fromWall(wallMs: number): number {
  return wallMs - Date.now() + steadyNow();
}

/**
 * The host's monotonic clock in milliseconds (Linux CLOCK_MONOTONIC: the same for every process on
 * the host, from boot): the time base of pacing that the processes of one host share.
 */
export function hostMonotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

let boot: string | undefined;

/** This boot of the host (Linux's boot_id): values of `hostMonotonicMs` compare only within one boot. */
export function bootId(): string {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      boot = 'boot';
    }
  }
  return boot;
}
