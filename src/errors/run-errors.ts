import { GenbatchError } from './genbatch-error.js';

/** Every usable project has been cooling down for longer than limits.max_stall. Exit 75, resumable. */
export class StalledOnQuotaError extends GenbatchError {
  constructor(
    readonly earliestBackMs: number | undefined,
    stalledForMs: number,
  ) {
    super(
      `Stalled on quota: every project has been cooling down for ${Math.round(stalledForMs / 1000)}s` +
        (earliestBackMs === undefined ? '.' : `; the earliest is expected back at ${new Date(earliestBackMs).toISOString()}.`),
      { code: 'STALLED_ON_QUOTA', retryable: true, exitCode: 75, hint: 'Resume later (genbatch resume JOB), add projects to the credentials file, or raise limits.max_stall.' },
    );
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
