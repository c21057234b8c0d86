import { prepareJob } from '../../engine/prepare-job.js';
import { thinkingPlan } from '../../estimate/thinking-budget.js';
import { cacheOnWarning, lateStaticWarning } from '../../job/static-prefix.js';
import { line, type CliIO } from '../io.js';
import { blankLinesNote } from '../render-input.js';

/** `genbatch validate JOB`: job file, credentials, prices and input checked, no API call. */
export async function validateCommand(jobFile: string, flags: { emulator?: boolean }, io: CliIO): Promise<number> {
  const prepared = await prepareJob(jobFile, { emulated: flags.emulator ?? false });
  const { job } = prepared;
  line(
    io.stderr,
    `${job.name}: valid. ${prepared.rows} items × ${job.steps.length} step(s) (${job.steps.map((s) => `${s.name}: ${s.task} ${s.model}`).join(', ')}); ${prepared.credentials.projects.length} project(s).`,
  );
  const blank = blankLinesNote(job.input.file, prepared.blankLines);
  if (blank) line(io.stderr, `  ${blank}`);
  // Say where a default thinking budget was lowered to fit max_output_tokens (docs/thinking.md).
  for (const step of job.steps) {
    const plan = thinkingPlan(step, prepared.catalog);
    if (plan.loweredFrom === undefined) continue;
    line(
      io.stderr,
      `  ${step.name}: thinking budget ${plan.budget ?? 0} on ${step.model} (its default ${plan.loweredFrom} lowered so that the reply keeps at least half of max_output_tokens ${step.maxOutputTokens ?? ''}; docs/thinking.md)`,
    );
  }
  // Fixed text after an item field: no context cache can serve it (docs/cost-control.md#context-caching).
  for (const step of job.steps) {
    const warning = step.task === 'text' ? lateStaticWarning(step, job.styles) : undefined;
    if (warning) line(io.stderr, `  Warning: ${warning}`);
    const noCache = step.task === 'text' ? cacheOnWarning(step, job.styles, prepared.catalog.contextCachePrices(step.model) !== undefined) : undefined;
    if (noCache) line(io.stderr, `  Warning: ${noCache}`);
  }
  return 0;
}
