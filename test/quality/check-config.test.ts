import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigErrors } from '../../src/errors/config-error.js';
import type { Job } from '../../src/job/job.js';
import { loadJob } from '../../src/job/load-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

function jobText(step: string): string {
  return `version: 1
name: gates
input: { file: items.csv, id: id }
credentials: creds.yaml
steps:
${step}`;
}

const TEXT = `  - name: blurb
    task: text
    model: gemini-2.5-flash
    prompt: "About {{title}}"
`;
const JSON_STEP = `${TEXT}    json: { description: string, tags: string }
`;
const IMAGE = `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "A picture of {{title}}"
    output: { file: "images/{{id}}.png" }
`;

async function load(step: string): Promise<Job | string[]> {
  const file = join(tempDir(), 'job.yaml');
  writeFileSync(file, jobText(step));
  try {
    return await loadJob(file);
  } catch (error) {
    if (error instanceof ConfigErrors) return error.problems.map((p) => p.message);
    throw error;
  }
}

describe('checks: and on_fail: in a job file', () => {
  it('compiles every check, with its field, and on_fail with its defaults', async () => {
    const job = (await load(`${JSON_STEP}    checks:
      - { words: { min: 20, max: 300 }, field: description }
      - chars: { max: 2000 }
      - not_icontains: ["As an AI language model"]
      - contains: Paris
      - matches: "/^[A-Z]/m"
      - language: FR
      - not_truncated: true
      - judge: { model: gemini-2.5-flash-lite, rubric: "Is it accurate?", min_score: 4 }
    on_fail: { regenerate: 2, feedback: true }
`)) as Job;
    const step = job.steps[0];
    expect(step?.checks?.map((c) => c.check)).toEqual(['words', 'chars', 'not_icontains', 'contains', 'matches', 'language', 'not_truncated', 'judge']);
    expect(step?.checks?.[0]).toEqual({ check: 'words', field: 'description', min: 20, max: 300 });
    expect(step?.checks?.[3]).toEqual({ check: 'contains', phrases: ['Paris'] });
    const matches = step?.checks?.[4];
    expect(matches?.check === 'matches' && matches.pattern.flags).toBe('m');
    expect(step?.checks?.[5]).toEqual({ check: 'language', language: 'fr' });
    expect(step?.checks?.[7]).toEqual({ check: 'judge', model: 'gemini-2.5-flash-lite', rubric: 'Is it accurate?', minScore: 4 });
    expect(step?.onFail).toEqual({ regenerate: 2, feedback: true, then: 'fail' });
  });

  it('image checks compile into sizes, ratios and tolerances', async () => {
    const job = (await load(`${IMAGE}    checks:
      - size: { width: 1024, height: 1024 }
      - size: { width: 512, minimum: true }
      - not_blank: true
      - aspect: "16:9"
    on_fail: { regenerate: 1, then: review }
`)) as Job;
    expect(job.steps[0]?.checks).toEqual([
      { check: 'size', width: 1024, height: 1024, minimum: false },
      { check: 'size', width: 512, minimum: true },
      { check: 'not_blank' },
      { check: 'aspect', width: 16, height: 9, tolerance: 0.02 },
    ]);
    expect(job.steps[0]?.onFail).toEqual({ regenerate: 1, feedback: false, then: 'review' });
  });

  it('a bad regular expression is refused at load time, naming the key', async () => {
    const problems = (await load(`${TEXT}    checks:
      - matches: "([a-z"
`)) as string[];
    expect(problems.join('\n')).toMatch(/steps\[0\]\.checks\[0\]\.matches: not a valid regular expression/);
  });

  it('checks that do not fit the step are config errors naming the key', async () => {
    const problems = (await load(`${TEXT}    checks:
      - not_blank: true
      - words: { min: 10 }
        field: description
      - words: {}
      - { words: { min: 5 }, chars: { max: 10 } }
  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "A picture of {{title}}"
    output: { file: "images/{{id}}.png" }
    checks:
      - language: fr
`)) as string[];
    const text = problems.join('\n');
    expect(text).toMatch(/steps\[0\]\.checks\[0\]\.not_blank: not_blank checks an image, and this is a text step/);
    expect(text).toMatch(/steps\[0\]\.checks\[1\]\.field: field: names a JSON field, and this step has no json:/);
    expect(text).toMatch(/steps\[0\]\.checks\[2\]\.words: words needs min, max or both/);
    expect(text).toMatch(/one check per entry, not words and chars/);
    expect(text).toMatch(/steps\[1\]\.checks\[0\]\.language: language checks text, and this is an image step/);
  });

  it('a misspelt check or outcome gets the key and the nearest name', async () => {
    const problems = (await load(`${TEXT}    checks:
      - wrods: { min: 5 }
    on_fail: { then: maybe }
`)) as string[];
    expect(problems.join('\n')).toMatch(/steps\[0\]\.checks\[0\]\.wrods: unknown key "wrods"; did you mean "words"\?/);
    expect(problems.join('\n')).toMatch(/steps\[0\]\.on_fail\.then: .*"fail"\|"keep"\|"review"/);
  });

  it('a field the JSON does not have, and on_fail without checks, are refused', async () => {
    const problems = (await load(`${JSON_STEP}    checks:
      - { words: { min: 10 }, field: summary }
  - name: other
    task: text
    model: gemini-2.5-flash
    prompt: "x {{title}}"
    on_fail: { regenerate: 1 }
`)) as string[];
    expect(problems.join('\n')).toMatch(/the step's JSON has no field "summary" \(it has: description, tags\)/);
    expect(problems.join('\n')).toMatch(/on_fail applies to a step with checks:/);
  });
});
