import type { Credentials } from '../credentials/credentials.js';
import { loadCredentials } from '../credentials/load-credentials.js';
import { ConfigErrors, type ConfigError } from '../errors/config-error.js';
import { PriceCatalog } from '../estimate/price-catalog.js';
import { thinkingProblems } from '../estimate/thinking-budget.js';
import { checkJobInput, type CheckedInput } from '../input/index.js';
import { fallbackProblems, paramProblems, unpricedModels, unservedModels, watermarkProblems } from '../job/check-job.js';
import { jobProblem } from '../job/config-problem.js';
import { displayPath } from '../job/display-path.js';
import type { Job } from '../job/job.js';
import { loadJob } from '../job/load-job.js';
import { outputPathProblems } from '../outputs/output-paths-check.js';
import { resultFields } from '../outputs/results-writer.js';
import { batchStagingProblems } from './batch-staging-check.js';

export interface PreparedJob extends CheckedInput {
  job: Job;
  credentials: Credentials;
  catalog: PriceCatalog;
}

/** Throws the problems of one kind, all of them, if there are any. */
function refuse(problems: ConfigError[]): void {
  if (problems.length > 0) throw new ConfigErrors(problems);
}

/**
 * Everything `validate` checks, and `run` checks before spending: the job file (compiled by loadJob),
 * the credentials, the job against the price catalog and the credentials (src/job/check-job.ts), where
 * the run writes, and a full pass over the input (src/input/check-job-input.ts). Nothing is written.
 * Problems are reported one kind at a time, each through the job's problem helper (file, line, key).
 *
 * With `reuseValidation` (run, resume), the pass over the rows is skipped when the state file says
 * this very input was validated under the same rules, templates and reading options.
 */
export async function prepareJob(
  jobFile: string,
  /** `checkOutputs: false`: where the run writes is not checked (`cancel` writes no output, and must not be kept from stopping spend). */
  options: { emulated?: boolean; reuseValidation?: boolean; checkOutputs?: boolean } = {},
): Promise<PreparedJob> {
  const job = await loadJob(jobFile);
  const credentials = await loadCredentials(job.credentialsFile, {
    emulated: options.emulated ?? false,
    namedBy: { file: job.file, ...(job.lines?.credentials === undefined ? {} : { line: job.lines.credentials }) },
  });
  const catalog = PriceCatalog.load(job.prices);
  const problem = jobProblem(job);

  refuse(unpricedModels(job, catalog, problem));
  refuse(fallbackProblems(job, catalog, problem));
  refuse(unservedModels(job, catalog, credentials, problem));
  refuse(batchStagingProblems(job, credentials, { emulated: options.emulated ?? false }));
  refuse([
    ...paramProblems(job, problem),
    // Thinking counts against max_output_tokens: a budget that leaves the reply too little is refused (docs/thinking.md).
    ...job.steps.flatMap((step) => thinkingProblems(step, catalog).map((p) => problem(p.keyPath, `${p.message}.`, p.hint))),
    ...(await watermarkProblems(job, problem)),
    ...resultsFieldProblems(job),
    // Where the run writes (results, output folder, output names): a folder where a file goes is found now, not after every call is paid.
    ...(options.checkOutputs === false ? [] : outputPathProblems(job)).map((found) =>
      problem(
        found.keyPath,
        `${displayPath(found.path)} ${found.problem}; nothing was sent.`,
        `Point \`${found.keyPath}\` at a path genbatch can write (paths in the job file are relative to the job file), or move what is in the way.`,
        { code: 'OUTPUT_PATH_UNUSABLE' },
      ),
    ),
  ]);
  const input = await checkJobInput(job, { reuseValidation: options.reuseValidation ?? false });
  // The results file of a spreadsheet export reads like it (src/outputs/results-dialect.ts).
  return { job: { ...job, inputDialect: input.dialect }, credentials, catalog, ...input };
}

/** `results: { fields }` names fields the steps have. */
function resultsFieldProblems(job: Job): ConfigError[] {
  if (!job.resultsFields) return [];
  try {
    resultFields(job, { fields: job.resultsFields });
    return [];
  } catch (error) {
    const found = error as ConfigError;
    return [jobProblem(job)('results.fields', found.message, found.hint)];
  }
}
