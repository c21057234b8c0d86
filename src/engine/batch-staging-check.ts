import type { Credentials } from '../credentials/credentials.js';
import type { ConfigError } from '../errors/config-error.js';
import type { Job } from '../job/job.js';
import { jobProblem, problemsIn } from '../job/config-problem.js';
import { displayPath } from '../job/display-path.js';
import { customEndpoint } from './executors/storage-clients.js';

/**
 * `validate` (and `run`, before anything is spent): every project a batch step may use can reach a
 * Cloud Storage staging location. Batch prediction reads its input from and writes its output to
 * Cloud Storage, through the project's own credentials: the job's `batch.staging` or the project's
 * `staging_bucket` must name a place, and an `api_key` alone cannot reach Cloud Storage (keys
 * authenticate model calls only). A project whose endpoint is a stand-in (the emulator) stages there
 * without credentials; `--emulator` rehearsals check only that a location is set.
 */
export function batchStagingProblems(job: Job, credentials: Credentials, options: { emulated: boolean }): ConfigError[] {
  const problems: ConfigError[] = [];
  const seen = new Set<string>();
  const problem = jobProblem(job);
  const shownCredentials = displayPath(credentials.file);
  const credentialsProblem = problemsIn({ file: credentials.file, shown: shownCredentials });
  for (const step of job.steps) {
    if ((step.mode ?? 'online') === 'online') continue;
    const pool = step.pool ?? job.pool;
    credentials.projects.forEach((project, index) => {
      if (!project.enabled || (project.api ?? 'vertex') !== 'vertex' || (pool !== undefined && project.pool !== pool)) return;
      const location = job.batch?.staging ?? project.stagingBucket;
      if (location === undefined) {
        if (seen.has(`location:${project.name}`)) return;
        seen.add(`location:${project.name}`);
        problems.push(
          problem(
            `steps.${step.name}.mode`,
            `step "${step.name}" runs in batch, and project "${project.name}" has no Cloud Storage location to stage its batch files in`,
            `Set batch: { staging: gs://BUCKET/PREFIX } in the job file, or staging_bucket: gs://BUCKET on project "${project.name}" in ${shownCredentials}.`,
            { keyPath: 'batch.staging' },
          ),
        );
        return;
      }
      if (options.emulated || customEndpoint(project) || project.auth.kind !== 'api_key' || seen.has(`key:${project.name}`)) return;
      seen.add(`key:${project.name}`);
      problems.push(
        credentialsProblem(
          `projects[${index}].api_key`,
          `project "${project.name}" has only an API key, which cannot reach Cloud Storage; step "${step.name}" runs in batch and stages its files in ${location}`,
          `Give project "${project.name}" a key_file (a service account that can read and write ${location}), or remove api_key so that Application Default Credentials are used; or keep step "${step.name}" off it with pool: (see docs/batch.md).`,
        ),
      );
    });
  }
  return problems;
}
