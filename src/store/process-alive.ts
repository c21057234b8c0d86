import { readFileSync } from 'node:fs';
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

/**
 * What became of the process holding a job's lock: `running` on this host (whatever its heartbeat
 * says: a run stopped with SIGSTOP, or seen by a process whose clock runs ahead, is alive and will go
 * on), `gone` (no such process here, or its pid now belongs to a program that is not Node), or
 * `elsewhere` (another host: only its heartbeat can tell).
 */
export function lockHolderState(pid: number, host: string): 'running' | 'gone' | 'elsewhere' {
  if (host !== hostname()) return 'elsewhere';
  if (!processAlive(pid)) return 'gone';
  try {
    // A pid reused by another program (after a reboot, say): the run that held the lock is gone.
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (command !== '' && !/node|genbatch/i.test(command)) return 'gone';
  } catch {
    // No /proc (not Linux), or not readable: alive as far as can be told.
  }
  return 'running';
}
