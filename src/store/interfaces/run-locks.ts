import type { RunRow } from '../rows.js';

/** Who holds a job's run lock. */
export interface LockHolder {
  runId: string;
  pid: number;
  host: string;
}

export type LockAcquired = { acquired: true; tookOver?: LockHolder } | { acquired: false; holder: LockHolder & { heartbeatAt: string } };

/**
 * One active run per job: the run lock, the run's row and heartbeat, and the fence that keeps a run
 * which lost its lock from writing anything more.
 */
export interface RunLocks {
  /** Takes the job's run lock, atomically (a lock whose holder is gone is taken over); a held lock is returned to be named. */
  acquireLock(holder: LockHolder, holderState: (pid: number, host: string) => 'running' | 'gone' | 'elsewhere', staleMs?: number): LockAcquired;
  /** From now on every state write commits only while `runId` holds the lock (checked inside the write's transaction). */
  fenceFor(runId: string): void;
  /** Lets the lock go (what is queued commits under the fence first); false when another process held the file. */
  releaseLock(runId: string): boolean;
  startRun(run: { id: string; pid: number; host: string; options: unknown }): void;
  /** The run's heartbeat (and the lock's), with the other writes of the moment. */
  beat(runId: string): Promise<void>;
  /** False when another process held the file: the run row stays open, as a crashed run's does. */
  endRun(runId: string, outcome: string, exitCode: number): boolean;
  /** The run started last, by run order. */
  lastRun(): RunRow | undefined;
  getRun(id: string): RunRow | undefined;
  /** Writes wait up to `waitMs` for a lock another process holds on the file, with a notice when a wait begins. */
  waitForLocks(waitMs: number, onWaiting?: (message: string) => void): void;
  /** `running` rows of a dead run back to pending (a batch job's units stay with the job). */
  recoverAbandoned(currentRunId: string): number;
  /** Watches the size of the WAL for the run (see wal-watch.ts). */
  watchWal(notice: (message: string) => void): void;
}
