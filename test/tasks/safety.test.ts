import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { posts } from '../helpers/job-fixture.js';
import { useTaskJobs } from './task-job.js';

const taskJob = useTaskJobs();

/** Four posts; the emulator blocks prompts containing "[unsafe]" (its default blocked term). */
const ROWS = posts(4).map((p, i) => ({ ...p, title: i === 1 || i === 3 ? `${p.title} [unsafe]` : p.title }));
const BLOCKED = [ROWS[1]?.slug, ROWS[3]?.slug];

describe('task: safety block', () => {
  it.each([
    ['text (Gemini)', 'text', 'gemini-2.5-flash', '', /safety/i],
    ['image (Gemini)', 'image', 'gemini-2.5-flash-image', '    output: { file: "images/{{slug}}.png" }\n', /IMAGE_SAFETY|usage guidelines/],
    ['image (Imagen)', 'image', 'imagen-4.0-generate-001', '    output: { file: "images/{{slug}}.png" }\n', /safety filter/i],
  ])('%s: the step is filtered with its reason, reported by status, and never retried', async (_label, task, model, output, reason) => {
    const t = await taskJob({
      rows: ROWS,
      steps: `  - name: gen
    task: ${task}
    model: ${model}
    prompt: "Make something for {{title}}"
${output}`,
      extra: 'results: out/results.csv\n',
    });
    const run = await t.run();
    // Finished, with filtered items: an outcome, not a failure (exit 0, counted).
    expect(run.code).toBe(0);

    const status = await t.status();
    expect(status.counts).toMatchObject({ done: 2, filtered: 2, failed: 0, pending: 0 });
    expect(status.steps.gen).toMatchObject({ done: 2, filtered: 2 });
    expect(status.failures.map((f) => [f.id, f.step, f.error])).toEqual(BLOCKED.map((id) => [id, 'gen', 'SAFETY_FILTERED']));
    for (const failure of status.failures) expect(failure.message).toMatch(reason);
    expect(status.last_run).toMatchObject({ outcome: 'finished', exit_code: 0 });

    // One call per item: a safety refusal is final, not retried (max_attempts is 3).
    expect(t.calls(model)).toBe(4);
    expect(status.requests).toBe(4);
    if (output) {
      expect(readdirSync(t.out('images')).sort()).toEqual([`${ROWS[0]?.slug}.png`, `${ROWS[2]?.slug}.png`].sort());
    }
    const results = parse(readFileSync(t.out('results.csv')), { columns: true }) as Record<string, string>[];
    for (const row of results) {
      if (BLOCKED.includes(row.id)) expect(row).toMatchObject({ gen_state: 'filtered', gen_error: expect.stringMatching(reason) as unknown });
      else expect(row.gen_state).toBe('done');
    }

    // Running again does not retry them blindly: no call is made.
    const again = await t.run();
    expect(again.code).toBe(0);
    expect(t.calls(model)).toBe(4);
    expect((await t.status()).counts.filtered).toBe(2);
  });

  it('a filtered step stops its item’s chain; the later step stays pending and is not called', async () => {
    const t = await taskJob({
      rows: ROWS,
      steps: `  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: "Image brief for {{title}}"
    json: { image_prompt: string }
  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "{{steps.brief.image_prompt}}"
    output: { file: "images/{{slug}}.png" }
`,
    });
    expect((await t.run()).code).toBe(0);
    const status = await t.status();
    expect(status.steps.brief).toMatchObject({ done: 2, filtered: 2 });
    expect(status.steps.hero).toMatchObject({ done: 2, pending: 2 });
    expect(t.calls('gemini-2.5-flash')).toBe(4);
    expect(t.calls('gemini-2.5-flash-image')).toBe(2);
    for (const id of BLOCKED) expect(existsSync(t.out('images', `${id}.png`))).toBe(false);

    // Retrying on purpose is possible, and costs exactly one more call per retried item.
    const retry = await runCli(['retry', t.job, '--ids', BLOCKED[0] ?? '']);
    expect(retry.code).toBe(0);
    await t.run();
    expect(t.calls('gemini-2.5-flash')).toBe(5);
  });
});
