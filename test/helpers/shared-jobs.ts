import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { posts, writePostsCsv } from './job-fixture.js';
import { BRIEF_STEP } from './emulated-job.js';

/**
 * Several jobs on one credentials file, as nightly schedules run them: `dir/credentials.yaml` and one
 * folder per job (its own input and state file), each job naming `../credentials.yaml`.
 */
export function writeSharedCredentials(dir: string, endpoint: string, options: { projects?: string[]; quotas?: string; top?: string } = {}): string {
  const file = join(dir, 'credentials.yaml');
  const projects = (options.projects ?? ['shared']).map(
    (p) =>
      `  - { name: ${p}, project: ${p}, location: us-central1, api_key: key-${p}, endpoint: "${endpoint}"${options.quotas ? `, quotas: ${options.quotas}` : ''} }`,
  );
  writeFileSync(file, `${options.top ?? ''}projects:\n${projects.join('\n')}\n`);
  return file;
}

/**
 * Each job's own prompts (its name in them): jobs sharing projects rarely ask the very same thing,
 * and identical requests would be answered from the response cache instead of reaching the quota.
 */
export function writeSharedJob(dir: string, name: string, options: { items: number; limits?: string; steps?: string }): string {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  writePostsCsv(join(folder, 'posts.csv'), posts(options.items));
  const file = join(folder, 'job.yaml');
  writeFileSync(
    file,
    `version: 1
name: ${name}
input: { file: posts.csv, id: slug }
credentials: ../credentials.yaml
steps:
${options.steps ?? BRIEF_STEP.replace('Image brief for {{title}}', `Image brief for {{title}} (${name})`)}limits: ${options.limits ?? '{ concurrency: 4, max_attempts: 5 }'}
`,
  );
  return file;
}
