import { existsSync } from 'node:fs';
import { GenbatchError } from '../../errors/genbatch-error.js';
import { loadJob } from '../../job/load-job.js';
import { rejectItems } from '../../library/rejections.js';
import { openStateToReview } from '../../store/open-state.js';
import { line, type CliIO } from '../io.js';

export interface RejectFlags {
  /** Why (shown on the review page). */
  note?: string;
  /** Reject from this step on (default: every step of the item). */
  step?: string;
  /** Take back every rejection of these items instead. */
  undo?: boolean;
}

/**
 * `genbatch reject JOB ID... [--note TEXT] [--step NAME] [--undo]`: marks done outputs as rejected.
 * They stay done (and in the results) until `genbatch retry JOB --rejected` puts them back to pending.
 */
export async function rejectCommand(jobFile: string, ids: string[], flags: RejectFlags, io: CliIO): Promise<number> {
  const job = await loadJob(jobFile);
  if (!existsSync(job.stateFile)) throw new GenbatchError(`${job.name} has not run yet: nothing to reject.`, { code: 'NOTHING_TO_REJECT', exitCode: 2 });
  const store = openStateToReview(job.stateFile);
  try {
    if (flags.undo) {
      const unknown = ids.filter((id) => !store.getItem(id));
      if (unknown.length > 0) throw new GenbatchError(`No such item(s): ${unknown.join(', ')}.`, { code: 'USAGE', exitCode: 2 });
      const cleared = store.clearRejection(ids);
      line(io.stderr, `${cleared} rejected step(s) of ${ids.length} item(s) accepted again.`);
      return 0;
    }
    const outcome = rejectItems(job, store, ids, {
      ...(flags.note === undefined ? {} : { note: flags.note }),
      ...(flags.step === undefined ? {} : { step: flags.step }),
    });
    line(
      io.stderr,
      `Rejected ${outcome.items} item(s) (${outcome.steps} done step(s) of ${outcome.stepNames.join(', ')}). They stay done until \`genbatch retry ${jobFile} --rejected\`, then \`genbatch resume ${jobFile}\` redoes them.`,
    );
    return 0;
  } finally {
    store.close();
  }
}
