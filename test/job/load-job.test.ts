import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrors } from '../../src/errors/config-error.js';
import { loadJob } from '../../src/job/load-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

const VALID = `version: 1
name: demo
input:
  file: posts.csv
  id: slug
credentials: creds.yaml
steps:
  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: "Brief for {{title}}"
    json: { image_prompt: string, alt_text: string }
  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "{{steps.brief.image_prompt}} {{styles.house}}"
    output: { file: "images/{{slug}}.png" }
styles:
  house: "clean"
`;

async function loadText(text: string, name = 'job.yaml'): Promise<unknown> {
  const dir = tempDir();
  const file = join(dir, name);
  writeFileSync(file, text);
  try {
    return await loadJob(file);
  } catch (error) {
    return error;
  }
}

function messages(error: unknown): string[] {
  if (error instanceof ConfigErrors) return error.problems.map((p) => p.message);
  if (error instanceof Error) return [error.message];
  return [];
}

describe('loadJob', () => {
  it('compiles a valid job with absolute paths, defaults and a JSON schema from the shorthand', async () => {
    const job = await loadText(VALID);
    expect(job).toMatchObject({
      name: 'demo',
      limits: { concurrency: 4, maxAttempts: 5, maxStallMs: 15 * 60_000 },
      budget: { confirmAboveUsd: 5 },
    });
    const compiled = job as { steps: { jsonSchema?: unknown }[]; input: { file: string }; stateFile: string };
    expect(compiled.steps[0]?.jsonSchema).toEqual({
      type: 'object',
      properties: { image_prompt: { type: 'string' }, alt_text: { type: 'string' } },
      required: ['image_prompt', 'alt_text'],
    });
    expect(compiled.input.file).toMatch(/\/posts\.csv$/);
    expect(compiled.stateFile).toMatch(/\/\.genbatch\/demo\.db$/);
  });

  it('names the line and suggests the nearest key for an unknown key', async () => {
    const error = await loadText(VALID.replace('    prompt: "Brief', '    promt: "Brief'));
    expect(error).toBeInstanceOf(ConfigError);
    const all = messages(error).join('\n');
    expect(all).toMatch(/job\.yaml:11: steps\[0\]\.promt: unknown key "promt"; did you mean "prompt"\?/);
    expect((error as ConfigError).exitCode).toBe(2);
  });

  it('suggests top-level keys too', async () => {
    const error = await loadText(VALID.replace('styles:', 'stlyes:'));
    expect(messages(error).join('\n')).toMatch(/:18: stlyes: unknown key "stlyes"; did you mean "styles"\?/);
  });

  it('refuses a reference to a later or unknown step, and an unknown field of an earlier step', async () => {
    const error = await loadText(VALID.replace('{{steps.brief.image_prompt}}', '{{steps.brief.caption}} {{steps.hero.file}}'));
    const all = messages(error).join('\n');
    expect(all).toMatch(/step "brief" has no field "caption" \(it has: text, image_prompt, alt_text\)/);
    expect(all).toMatch(/refers to step "hero", which is not an earlier step/);
  });

  it('refuses an undefined style with a suggestion', async () => {
    const error = await loadText(VALID.replace('{{styles.house}}', '{{styles.hous}}'));
    expect(messages(error).join('\n')).toMatch(/names a style that is not defined under styles; did you mean "house"\?/);
  });

  it('reads JSON job files with lines as well', async () => {
    const json = JSON.stringify(
      {
        version: 1,
        name: 'demo',
        input: { file: 'posts.csv', id: 'slug' },
        credentials: 'c.yaml',
        steps: [{ name: 'a', task: 'text', model: 'gemini-2.5-flash', prompt: 'x', temprature: 1 }],
      },
      null,
      2,
    );
    const error = await loadText(json, 'job.json');
    expect(messages(error).join('\n')).toMatch(/job\.json:\d+: steps\[0\]\.temprature: unknown key "temprature"; did you mean "temperature"\?/);
  });

  it('reports a missing job file and YAML syntax errors with exit 2', async () => {
    const missing = await loadJob('/nonexistent/job.yaml').catch((e: unknown) => e);
    expect((missing as ConfigError).message).toMatch(/Job file \/nonexistent\/job\.yaml does not exist/);
    expect((missing as ConfigError).exitCode).toBe(2);
    const syntax = await loadText('name: [unclosed\n');
    expect((syntax as ConfigError).message).toMatch(/job\.yaml:\d+: Job file is not valid YAML\/JSON/);
  });

  it('refuses durations it cannot read', async () => {
    const error = await loadText(`${VALID}limits: { max_stall: soon }\n`);
    expect(messages(error).join('\n')).toMatch(/limits\.max_stall: expected a duration like 500ms, 10s, 15m or 1h/);
  });
});
