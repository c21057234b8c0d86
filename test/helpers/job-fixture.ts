import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';

export interface PostRow {
  title: string;
  slug: string;
  meta_description: string;
}

/** Simple, varied posts for tests that need an input file of a given size. */
export function posts(n: number): PostRow[] {
  const topics = ['Kubernetes', 'Terraform', 'PostgreSQL', 'Redis', 'Prometheus', 'GitHub Actions', 'Docker', 'Vertex AI', 'Rust', 'Go'];
  const angles = ['in production', 'for small teams', 'without downtime', 'on a budget', 'the hard way', 'at scale'];
  return Array.from({ length: n }, (_, i) => {
    const topic = topics[i % topics.length] ?? 'Ops';
    const angle = angles[Math.floor(i / topics.length) % angles.length] ?? 'today';
    return {
      title: `${topic} ${angle}, part ${i + 1}`,
      slug: `${topic.toLowerCase().replace(/\s+/g, '-')}-${i + 1}`,
      meta_description: `What we learned running ${topic} ${angle}: the mistakes, the fixes, and the numbers (${i + 1}).`,
    };
  });
}

export function writePostsCsv(file: string, rows: PostRow[]): void {
  writeFileSync(file, stringify(rows, { header: true, columns: ['title', 'slug', 'meta_description'] }));
}

export interface FixtureOptions {
  items?: number;
  endpoint: string;
  concurrency?: number;
  projects?: string[];
  imageStep?: boolean;
  extraJob?: string;
}

/** Writes a two-step job (brief → image), its input and credentials pointing at an emulator. */
export function writeJobFixture(dir: string, options: FixtureOptions): string {
  mkdirSync(dir, { recursive: true });
  writePostsCsv(join(dir, 'posts.csv'), posts(options.items ?? 20));
  const projects = options.projects ?? ['proj-a', 'proj-b'];
  writeFileSync(
    join(dir, 'credentials.yaml'),
    `projects:\n${projects.map((p) => `  - { name: ${p}, project: ${p}, location: us-central1, api_key: test-key-${p}-7f3a9c2e5b8d, endpoint: "${options.endpoint}" }`).join('\n')}\n`,
  );
  const imageStep =
    options.imageStep === false
      ? ''
      : `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "{{steps.brief.image_prompt}}"
    params: { aspect_ratio: "16:9" }
    output:
      file: "images/{{slug}}.png"
      post: [ { resize: { width: 320, height: 180 } } ]
`;
  writeFileSync(
    join(dir, 'job.yaml'),
    `version: 1
name: test-job
input: { file: posts.csv, id: slug }
credentials: credentials.yaml
steps:
  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: "Image brief for {{title}}: {{meta_description}}"
    json: { image_prompt: string, alt_text: string }
    max_output_tokens: 300
${imageStep}limits: { concurrency: ${options.concurrency ?? 4}, max_attempts: 3 }
results: out/results.csv
${options.extraJob ?? ''}`,
  );
  return join(dir, 'job.yaml');
}
