import { GenbatchError } from './genbatch-error.js';

/** A lane (pool and model) that could not be served when the run stalled. */
export interface StalledLane {
  pool: string;
  model: string;
  expectedBackAt: number | undefined;
  reason: string;
  /** Every project for it is out of its per-day quota: `expectedBackAt` is the daily reset. */
  daily?: boolean;
}

/** Every lane waits on a known daily reset: the run stopped at once instead of waiting out limits.max_stall. */
function dailyReset(lanes: readonly StalledLane[]): number | undefined {
  if (lanes.length === 0 || !lanes.every((l) => l.daily === true && l.expectedBackAt !== undefined)) return undefined;
  // A reset is on a whole second; the monotonic-to-wall conversion may leave it a millisecond off.
  return Math.round(Math.min(...lanes.map((l) => l.expectedBackAt as number)) / 1000) * 1000;
}

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m}m` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** How the reason of a lane waiting on Vertex's dynamic shared quota begins (the project pool and the scheduler write it). */
export const SHARED_CAPACITY_REASON = 'waiting on shared capacity';

/** How a stall is told: its first words, code and hint; `then`: a sentence after the headline. */
interface StallKind {
  headline: string;
  code: string;
  hint: string;
  then?: string;
}

function stallKind(lanes: readonly StalledLane[]): StallKind {
  const reset = dailyReset(lanes);
  if (reset !== undefined) {
    // Per-day quotas come back at the reset, hours away: waiting out limits.max_stall would end the same way (see stopsForDailyReset).
    const at = new Date(reset).toISOString();
    return {
      headline: 'Stalled on quota: no pending work could make progress',
      then: `Every project with work left is out of its per-day quota until ${at} (in ${seconds(reset - Date.now())}), later than limits.max_stall: stopped now instead of waiting.`,
      code: 'STALLED_ON_QUOTA',
      hint: `Resume after ${at} (genbatch resume JOB; a nightly schedule does it), or add projects with quota left to the credentials file.`,
    };
  }
  if (lanes.length > 0 && lanes.every((l) => l.reason.startsWith(SHARED_CAPACITY_REASON)))
    return {
      // Dynamic shared quota: the model's capacity at a location is short for every project alike.
      headline: 'Stalled on shared capacity: every call was refused (429) and no pending work could make progress',
      code: 'STALLED_ON_QUOTA',
      hint: "Google's shared capacity for the model at that location is short: more projects do not add any. Resume later (genbatch resume JOB), add a credentials entry with location: global (it routes to any region with capacity) or another region, or raise limits.max_stall.",
    };
  return {
    headline: 'Stalled on quota: no pending work could make progress',
    code: 'STALLED_ON_QUOTA',
    hint: 'Resume later (genbatch resume JOB): it probes each waiting project once and goes on at full speed if the quota is back. Or add projects to the credentials file, or raise limits.max_stall.',
  };
}

/**
 * No pending unit could make progress for longer than limits.max_stall: every lane with work left
 * was waiting on its projects. Exit 75, resumable. The message names each stalled pool and model,
 * when each is expected back, and what was completed meanwhile.
 */
export class StalledOnQuotaError extends GenbatchError {
  readonly earliestBackMs: number | undefined;

  constructor(
    readonly lanes: readonly StalledLane[],
    stalledForMs: number,
    completed: Record<string, number> = {},
    kind: StallKind = stallKind(lanes),
  ) {
    const now = Date.now();
    const described = lanes.map((l) => {
      const at = l.expectedBackAt !== undefined && l.daily === true ? Math.round(l.expectedBackAt / 1000) * 1000 : l.expectedBackAt;
      const back = at === undefined ? 'expected back: unknown' : `expected back at ${new Date(at).toISOString()} (in ${seconds(at - now)})`;
      return `\n  - pool "${l.pool}", model ${l.model}: ${l.reason}; ${back}`;
    });
    const done = Object.entries(completed).filter(([, n]) => n > 0);
    const total = done.reduce((sum, [, n]) => sum + n, 0);
    const meanwhile =
      total === 0
        ? 'Nothing was completed in this run.'
        : `Completed meanwhile in this run: ${total} step(s) (${done.map(([step, n]) => `${step}: ${n}`).join(', ')}).`;
    super(`${kind.headline} for ${seconds(stalledForMs)}.${kind.then ? ` ${kind.then}` : ''} Waiting on:${described.join('')}\n${meanwhile}`, {
      code: kind.code,
      retryable: true,
      exitCode: 75,
      hint: kind.hint,
    });
    const times = lanes.map((l) => l.expectedBackAt).filter((t): t is number => t !== undefined);
    this.earliestBackMs = times.length === 0 ? undefined : Math.min(...times);
  }
}

/**
 * Every project a lane could use has been unreachable (connection refused, DNS, no route) for
 * limits.max_outage: a network or endpoint outage, not a quota. Exit 75, resumable.
 */
export class StalledOnOutageError extends StalledOnQuotaError {
  constructor(lanes: readonly StalledLane[], outageMs: number, completed: Record<string, number> = {}) {
    super(lanes, outageMs, completed, {
      headline: 'Stalled on an outage (limits.max_outage): no call could reach any project',
      code: 'STALLED_ON_OUTAGE',
      hint: 'Check the network and the endpoints in the credentials file, then resume (genbatch resume JOB): nothing done is redone. Or raise limits.max_outage.',
    });
  }
}

/** No project of the pool can take calls (all disabled, or the pool is empty). */
export class NoUsableProjectError extends GenbatchError {
  constructor(reason: string) {
    super(`No usable project: ${reason}`, {
      code: 'NO_USABLE_PROJECT',
      exitCode: 1,
      hint: 'Fix the credentials of the disabled projects (see `genbatch status`), or add a project, then resume.',
    });
  }
}

/** The run was asked to stop (Ctrl-C) while waiting. */
export class StopRequestedError extends GenbatchError {
  constructor() {
    super('The run is stopping.', { code: 'STOP_REQUESTED', exitCode: 4 });
  }
}

/**
 * The disk that outputs go to is full (ENOSPC, EDQUOT). The run takes no new calls, since every
 * reply would be paid for and thrown away; replies already paid are kept beside the state file and
 * written by the next run. Exit 75 (a temporary failure): free space, then resume.
 */
export class OutputDiskFullError extends GenbatchError {
  constructor(target: string, cause: unknown, heldDir: string) {
    super(`The disk is full: could not write ${target} (${(cause as NodeJS.ErrnoException).code ?? 'ENOSPC'}). genbatch stopped taking new calls.`, {
      code: 'OUTPUT_DISK_FULL',
      exitCode: 75,
      hint: `Free space on that disk, then \`genbatch resume JOB\`: the replies already paid for are kept in ${heldDir} and are written without calling the API again.`,
      cause,
    });
  }
}

/**
 * Another run took the job's lock while this one was paused or cut off (a run on another host, once
 * this run's heartbeat looked a minute old): this run writes nothing more — no state, no output
 * file — and stops, so the two never write over each other. Exit 75.
 */
export class RunLockLostError extends GenbatchError {
  constructor(stateFile: string, holder: { runId: string; pid: number; host: string } | undefined) {
    super(
      `This run lost the lock of its state file ${stateFile}${holder ? ` to run ${holder.runId} (pid ${holder.pid} on ${holder.host})` : ''} while it was paused or cut off: it stops and writes nothing more (no state, no output file).`,
      {
        code: 'RUN_LOCK_LOST',
        retryable: false,
        exitCode: 75,
        hint: holder
          ? 'The other run goes on with the job (genbatch status JOB shows it); calls this run had in flight count at their worst case in the state. Nothing to do here.'
          : 'No run holds the lock now: `genbatch resume JOB` goes on; calls this run had in flight count at their worst case in the state.',
      },
    );
  }
}
