import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GenbatchError } from '../../errors/genbatch-error.js';
import { displayPath, loadJob } from '../../job/load-job.js';
import { writeFileAtomic } from '../../outputs/atomic-write.js';
import { collectReview } from '../../review/review-data.js';
import { renderReviewPage } from '../../review/review-page.js';
import { StateStore } from '../../store/state-store.js';
import { line, type CliIO } from '../io.js';

export interface ReviewFlags {
  /** Where to write the page; default `review.html` in the job's output folder. */
  out?: string;
  /** Skip thumbnails (a faster page for very large jobs; outputs are still linked). */
  thumbnails?: boolean;
}

/**
 * `genbatch review JOB [--out FILE]`: writes a static HTML page showing every item (thumbnails,
 * prompts, JSON fields, cost, state, errors and filter reasons, rejections) and prints its path.
 */
export async function reviewCommand(jobFile: string, flags: ReviewFlags, io: CliIO): Promise<number> {
  const job = await loadJob(jobFile);
  if (!existsSync(job.stateFile)) {
    throw new GenbatchError(`${job.name} has not run yet: there is nothing to review (no state file at ${displayPath(job.stateFile)}).`, {
      code: 'NOTHING_TO_REVIEW',
      exitCode: 2,
      hint: `Run it first: genbatch run ${jobFile}`,
    });
  }
  const out = resolve(flags.out ?? join(job.outputDir, 'review.html'));
  const store = StateStore.open(job.stateFile);
  let html: string;
  let summary: string;
  try {
    const data = await collectReview(job, store, { thumbnails: flags.thumbnails !== false });
    html = renderReviewPage(data, { pageDir: dirname(out), jobArg: jobFile });
    const c = data.status.counts;
    summary = `Review page for ${data.items.length} items (${c.done} done, ${c.failed} failed, ${c.filtered} filtered, ${c.pending + c.running} pending; ${data.rejectedItems} rejected)`;
  } finally {
    store.close();
  }
  try {
    await writeFileAtomic(out, html);
  } catch (error) {
    throw new GenbatchError(`Cannot write the review page ${displayPath(out)}: ${(error as Error).message}`, {
      code: 'REVIEW_WRITE',
      exitCode: 1,
      cause: error,
    });
  }
  line(io.stderr, `${summary}: ${displayPath(out)}`);
  line(io.stdout, out);
  return 0;
}
