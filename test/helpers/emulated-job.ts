import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePostsCsv, posts } from './job-fixture.js';

export interface ProjectSpec {
  name: string;
  quotas?: string;
  extra?: string;
}

/** Credentials for emulated projects (project id = name), all pointing at one endpoint. */
export function writeCredentials(file: string, endpoint: string, projects: ProjectSpec[], strategy = 'round-robin'): void {
  const lines = projects.map(
    (p) =>
      `  - { name: ${p.name}, project: ${p.name}, location: us-central1, api_key: secret-key-${p.name}, endpoint: "${endpoint}"${p.quotas ? `, quotas: ${p.quotas}` : ''}${p.extra ? `, ${p.extra}` : ''} }`,
  );
  writeFileSync(file, `strategy: ${strategy}\nprojects:\n${lines.join('\n')}\n`);
}

/** A job over `items` posts with the given steps (YAML text) and limits. */
export function writeJob(dir: string, options: { items: number; steps: string; limits: string; extra?: string }): string {
  writePostsCsv(join(dir, 'posts.csv'), posts(options.items));
  const file = join(dir, 'job.yaml');
  writeFileSync(
    file,
    `version: 1
name: quota-job
input: { file: posts.csv, id: slug }
credentials: credentials.yaml
steps:
${options.steps}
limits: ${options.limits}
${options.extra ?? ''}`,
  );
  return file;
}

export const BRIEF_STEP = `  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: "Image brief for {{title}}"
    json: { image_prompt: string }
    max_output_tokens: 200
`;

/** A short text step writing one file per item. */
export const NOTE_STEP = `  - name: note
    task: text
    model: gemini-2.5-flash
    prompt: "A short note about {{title}}"
    max_output_tokens: 1000
    output: { file: "notes/{{slug}}.txt" }
`;

export const IMAGE_STEP = `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "{{steps.brief.image_prompt}}"
    output: { file: "images/{{slug}}.png" }
`;

/** Step rows by state (the shared reader of state files). */
export { stepStates as stateCounts } from './state-file.js';

/** A one-call text item: no thinking and room for the longest reply, so one call settles an item (never TRUNCATED). */
export const ONE_CALL_STEP = `  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: "Image brief for {{title}}"
    max_output_tokens: 2000
    params: { thinking_budget: 0 }
`;
