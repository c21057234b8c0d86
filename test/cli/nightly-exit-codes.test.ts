import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { posts } from '../helpers/job-fixture.js';
import { useTaskJobs } from '../tasks/task-job.js';

/**
 * The exit codes a nightly scheduler acts on (docs/nightly.md, issue 27 point 7): a filtered item is
 * an outcome the operator has seen, not a failure; a failure exits 1 in the run where it happened,
 * and fails later runs only with --strict.
 */

const taskJob = useTaskJobs();

const TEXT_STEP = `  - name: blurb
    task: text
    model: gemini-2.5-flash
    prompt: "One paragraph about {{title}}"
    max_output_tokens: 2000
    params: { thinking_budget: 0 }
`;

describe('nightly exit codes', () => {
  it('filtered items exit 0 and are counted, in the run that filtered them and every later one', async () => {
    // The emulator refuses prompts with "[unsafe]" on safety grounds.
    const rows = posts(4).map((p, i) => (i === 2 ? { ...p, title: `${p.title} [unsafe]` } : { ...p }));
    const t = await taskJob({ rows, steps: TEXT_STEP });
    const first = await t.run('--plain');
    expect(first.code, first.stderr.slice(-800)).toBe(0);
    expect(first.stderr).toMatch(/filtered: item "\S+" step blurb/);
    expect(first.stderr).toMatch(/ended: finished \(exit 0\).* 3 done, 0 failed, 1 filtered/);

    const next = await t.run('--plain');
    expect(next.code, next.stderr.slice(-800)).toBe(0);
    expect(next.stderr).toContain('Nothing to do: all 4 items are finished (3 done, 1 filtered). No API calls were made.');
    // --strict fails on failures left over, not on filtered items.
    expect((await t.run('--plain', '--strict')).code).toBe(0);
    const status = await t.status();
    expect(status.counts).toMatchObject({ done: 3, filtered: 1, failed: 0 });
    expect(status.last_run).toMatchObject({ outcome: 'finished', exit_code: 0 });
  });

  it('a failure exits 1 once, in the run where it failed; later runs exit 0 with it counted, unless --strict', async () => {
    // Every reply ends with finish reason OTHER: each item fails after max_attempts (3).
    const t = await taskJob({ items: 2, steps: TEXT_STEP, emulator: { finish_reasons: { OTHER: 1 } } });
    const first = await t.run('--plain');
    expect(first.code, first.stderr.slice(-800)).toBe(1);
    expect(first.stderr).toMatch(/ended: failed_items \(exit 1\)/);
    expect((await t.status()).last_run).toMatchObject({ outcome: 'failed_items', exit_code: 1 });

    const next = await t.run('--plain');
    expect(next.code, next.stderr.slice(-800)).toBe(0);
    expect(next.stderr).toContain('Nothing to do: all 2 items are finished (0 done, 2 failed). No API calls were made.');
    expect((await t.status()).last_run).toMatchObject({ outcome: 'finished', exit_code: 0 });

    const strict = await t.run('--plain', '--strict');
    expect(strict.code, strict.stderr.slice(-800)).toBe(1);
    expect((await t.status()).last_run).toMatchObject({ outcome: 'failed_items', exit_code: 1 });
    expect((await runCli(['resume', t.job, '--yes', '--plain', '--strict'])).code).toBe(1);
    expect((await runCli(['resume', t.job, '--yes', '--plain'])).code).toBe(0);
  });
});
