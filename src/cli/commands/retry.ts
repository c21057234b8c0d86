import { existsSync } from 'node:fs';
import { GenbatchError } from '../../errors/genbatch-error.js';
import { loadJob } from '../../job/load-job.js';
import { regenerateRejected } from '../../library/replaced-outputs.js';
import { openStateToReview } from '../../store/open-state.js';
import type { StepState } from '../../store/step-state.js';
import { line, type CliIO } from '../io.js';

/**
 * `genbatch retry JOB [--failed] [--ids ...] [--step NAME]`: puts failed items, or chosen ones (from a
 * step on), back to pending; the next run redoes only them. Filtered steps are retried only by id:
 * a safety refusal is not retried blindly.
 */
export async function retryCommand(
  jobFile: string,
  flags: { failed?: boolean; ids?: string[]; step?: string; rejected?: boolean },
  io: CliIO,
): Promise<number> {
  const job = await loadJob(jobFile);
  if (!flags.failed && !flags.rejected && !flags.ids?.length) {
    throw new GenbatchError('Say which items to retry: --failed, --rejected, or --ids ID...', { code: 'USAGE', exitCode: 2 });
  }
  if (!existsSync(job.stateFile)) throw new GenbatchError(`${job.name} has not run yet: nothing to retry.`, { code: 'NOTHING_TO_RETRY', exitCode: 2 });
  const names = job.steps.map((s) => s.name);
  const from = flags.step === undefined ? 0 : names.indexOf(flags.step);
  if (from < 0) throw new GenbatchError(`--step ${flags.step}: the job has no such step (steps: ${names.join(', ')}).`, { code: 'USAGE', exitCode: 2 });
  const store = openStateToReview(job.stateFile);
  try {
    let changed = 0;
    if (flags.failed) changed += store.resetSteps('all', names.slice(from), ['failed'], { noCache: true });
    // The replaced outputs are kept for `review --serve`'s before/after until the reviewer chooses.
    if (flags.rejected) changed += regenerateRejected(job, store);
    if (flags.ids?.length) {
      const unknown = flags.ids.filter((id) => !store.getItem(id));
      if (unknown.length > 0) throw new GenbatchError(`No such item(s): ${unknown.join(', ')}.`, { code: 'USAGE', exitCode: 2 });
      const states: StepState[] = ['done', 'failed', 'filtered', 'pending'];
      changed += store.resetSteps(flags.ids, names.slice(from), states, { noCache: true });
    }
    line(io.stderr, `${changed} step(s) put back to pending; run \`genbatch resume ${jobFile}\` to redo them.`);
    return 0;
  } finally {
    store.close();
  }
}
