import { hostname } from 'node:os';

/**
 * Whether a process still runs: signal 0 checks without touching it (EPERM means it lives, under
 * another user). Only knowable on this host: a process of another host counts as alive, and its
 * heartbeat decides instead.
 */
export function processAlive(pid: number, host: string = hostname()): boolean {
  if (host !== hostname()) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
