import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GenbatchError } from '../../errors/genbatch-error.js';
import { displayPath, loadJob } from '../../job/load-job.js';
import { writeFileAtomic } from '../../outputs/atomic-write.js';
import { collectReview } from '../../review/review-data.js';
import { renderReviewPage } from '../../review/review-page.js';
import { openStateToReview } from '../../store/open-state.js';
import { line, type CliIO } from '../io.js';

export interface ReviewFlags {
  /** Where to write the page; default `review.html` in the job's output folder. */
  out?: string;
  /** Skip thumbnails (a faster page for very large jobs; outputs are still linked). */
  thumbnails?: boolean;
  /** Serve an interactive gallery on 127.0.0.1 instead of writing a page. */
  serve?: boolean;
  port?: number;
  /** `--serve`: regenerate against the in-process emulator. */
  emulator?: boolean;
}

/**
 * `genbatch review JOB --serve [--port N]`: serves the interactive gallery until Ctrl-C. Its URL
 * goes to stdout (for scripts and tests), a line for the person to stderr.
 */
async function serveCommand(jobFile: string, flags: ReviewFlags, io: CliIO): Promise<number> {
  const { serveReview } = await import('../../review/review-server.js');
  const server = await serveReview(jobFile, { ...(flags.port === undefined ? {} : { port: flags.port }), emulator: flags.emulator ?? false });
  line(io.stderr, `Reviewing ${displayPath(jobFile)} at ${server.url} (only this machine can reach it). Ctrl-C stops the server.`);
  line(io.stdout, server.url);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return 0;
}

/**
 * `genbatch review JOB [--out FILE]`: writes a static HTML page showing every item (thumbnails,
 * prompts, JSON fields, cost, state, errors and filter reasons, rejections) and prints its path.
 */
export async function reviewCommand(jobFile: string, flags: ReviewFlags, io: CliIO): Promise<number> {
  if (flags.serve) return serveCommand(jobFile, flags, io);
  const job = await loadJob(jobFile);
  if (!existsSync(job.stateFile)) {
    throw new GenbatchError(`${job.name} has not run yet: there is nothing to review (no state file at ${displayPath(job.stateFile)}).`, {
      code: 'NOTHING_TO_REVIEW',
      exitCode: 2,
      hint: `Run it first: genbatch run ${jobFile}`,
    });
  }
  const out = resolve(flags.out ?? join(job.outputDir, 'review.html'));
  const store = openStateToReview(job.stateFile);
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
