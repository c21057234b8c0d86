import { GenbatchError } from './genbatch-error.js';

/** A lane (pool and model) that could not be served when the run stalled. */
export interface StalledLane {
  pool: string;
  model: string;
  expectedBackAt: number | undefined;
  reason: string;
}

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m}m` : `${Math.floor(m / 60)}h ${m % 60}m`;
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
  ) {
    const now = Date.now();
    const described = lanes.map((l) => {
      const back =
        l.expectedBackAt === undefined
          ? 'expected back: unknown'
          : `expected back at ${new Date(l.expectedBackAt).toISOString()} (in ${seconds(l.expectedBackAt - now)})`;
      return `\n  - pool "${l.pool}", model ${l.model}: ${l.reason}; ${back}`;
    });
    const done = Object.entries(completed).filter(([, n]) => n > 0);
    const total = done.reduce((sum, [, n]) => sum + n, 0);
    const meanwhile =
      total === 0
        ? 'Nothing was completed in this run.'
        : `Completed meanwhile in this run: ${total} step(s) (${done.map(([step, n]) => `${step}: ${n}`).join(', ')}).`;
    super(`Stalled on quota: no pending work could make progress for ${seconds(stalledForMs)}. Waiting on:${described.join('')}\n${meanwhile}`, {
      code: 'STALLED_ON_QUOTA',
      retryable: true,
      exitCode: 75,
      hint: 'Resume later (genbatch resume JOB): it probes each waiting project once and goes on at full speed if the quota is back. Or add projects to the credentials file, or raise limits.max_stall.',
    });
    const times = lanes.map((l) => l.expectedBackAt).filter((t): t is number => t !== undefined);
    this.earliestBackMs = times.length === 0 ? undefined : Math.min(...times);
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
