import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { readStateFile } from '../helpers/state-file.js';
import { waitUntil } from '../helpers/wait.js';
import { useTaskJobs, type StatusJson } from '../tasks/task-job.js';

/** What `status --json` adds for checks (product.md: checks: {CHECK: {passed, failed}}). */
type ChecksStatus = StatusJson & {
  checks: Record<string, { passed: number; failed: number }>;
  check_outcomes: Record<string, Record<string, number>>;
  failures: { id: string; step: string; error: string; message: string }[];
};

const taskJob = useTaskJobs();

function results(file: string): Record<string, string>[] {
  return parse(readFileSync(file), { columns: true }) as Record<string, string>[];
}

/** A step whose cut replies (the emulator's MAX_TOKENS share) fail `not_truncated`. */
function gatedStep(onFail: string): string {
  return `  - name: blurb
    task: text
    model: gemini-2.5-flash
    prompt: "One paragraph about {{title}}"
    checks:
      - not_truncated: true
      - words: { min: 3 }
    on_fail: ${onFail}
`;
}

/** Regenerations recorded per item (table check_attempts). */
function regenerations(stateFile: string): Map<string, number> {
  return readStateFile(stateFile, (db) => {
    const rows = db.prepare('SELECT item_id, count(*) AS n FROM check_attempts GROUP BY item_id').all() as { item_id: string; n: number }[];
    return new Map(rows.map((r) => [r.item_id, r.n]));
  });
}

describe('quality gates end to end (issue 28)', () => {
  it('a failed check regenerates (with feedback), then review keeps it queued; the results column and status say so', async () => {
    const t = await taskJob({
      items: 24,
      steps: gatedStep('{ regenerate: 1, feedback: true, then: review }'),
      extra: 'results: out/results.csv\n',
      emulator: { finish_reasons: { MAX_TOKENS: 0.4 } },
    });
    const run = await t.run();
    expect(run.code, run.stderr.slice(-800)).toBe(0);
    const status = (await runCli(['status', t.job, '--json']).then((r) => JSON.parse(r.stdout))) as ChecksStatus;
    expect(status.counts).toMatchObject({ done: 24, failed: 0 });
    const outcomes = status.check_outcomes.blurb ?? {};
    const regenerated = outcomes.regenerated ?? 0;
    const review = outcomes.review ?? 0;
    const passed = outcomes.passed ?? 0;
    expect(passed + regenerated + review).toBe(24);
    // 40% of asks are cut: some first drafts fail, some regenerations fail again.
    expect(regenerated).toBeGreaterThan(0);
    expect(review).toBeGreaterThan(0);
    // One call per first draft, one per regeneration (at most 1 per item), none answered from the cache.
    expect(t.calls('gemini-2.5-flash')).toBe(24 + regenerated + review);
    expect(status.checks.not_truncated).toEqual({ passed: 24 - review, failed: review });

    const rows = results(t.out('results.csv'));
    const column = rows.map((r) => r.blurb_checks);
    expect(column.filter((c) => c === 'passed')).toHaveLength(24 - review);
    expect(column.filter((c) => c === 'not_truncated')).toHaveLength(review);
    // What was kept for review is the cut reply, marked.
    for (const row of rows.filter((r) => r.blurb_checks === 'not_truncated')) expect(row.blurb_finish_reason).toBe('MAX_TOKENS');

    const human = await runCli(['status', t.job]);
    expect(human.stdout).toMatch(/Checks: not_truncated \d+ passed, \d+ failed; words 24 passed, 0 failed/);
    expect(human.stdout).toMatch(new RegExp(`step blurb checks: .*${review} review`));
  }, 30_000);

  it('then: fail fails the step CHECKS_FAILED after N regenerations; a run killed mid-regeneration resumes without making more than N', async () => {
    const t = await taskJob({
      items: 6,
      steps: gatedStep('{ regenerate: 2, then: fail }'),
      extra: 'results: out/results.csv\n',
      emulator: { finish_reasons: { MAX_TOKENS: 1 }, latency_ms: 150 },
    });
    const stateFile = join(t.dir, '.genbatch', 'task-job.db');
    const child = spawnCli(['run', t.job, '--yes']);
    // Killed once some regenerations are recorded and before all are.
    await waitUntil(() => {
      try {
        return [...regenerations(stateFile).values()].reduce((a, b) => a + b, 0) >= 3;
      } catch {
        return false;
      }
    });
    child.kill('SIGKILL');
    expect((await child.output).signal).toBe('SIGKILL');
    await t.emulator.idle();

    const resumed = await t.run();
    expect(resumed.code, resumed.stderr.slice(-800)).toBe(1);
    const status = (await runCli(['status', t.job, '--json']).then((r) => JSON.parse(r.stdout))) as ChecksStatus;
    expect(status.counts).toMatchObject({ failed: 6, done: 0 });
    expect(status.failures.map((f) => f.error)).toEqual(Array(6).fill('CHECKS_FAILED'));
    expect(status.failures[0]?.message).toMatch(/failed checks after 2 regeneration\(s\): not_truncated: the reply was cut at max_output_tokens/);
    // Never more than N regenerations per item, across the kill; at most the calls in flight at the kill (4) asked again.
    expect([...regenerations(stateFile).values()]).toEqual(Array(6).fill(2));
    expect(t.calls('gemini-2.5-flash')).toBeLessThanOrEqual(6 * 3 + 4);
    expect(results(t.out('results.csv')).map((r) => [r.blurb_state, r.blurb_checks])).toEqual(Array(6).fill(['failed', 'not_truncated']));
  }, 30_000);

  it('a judge scores each attempt through the ledger (a cost line of its own); a low score regenerates, then keep marks it', async () => {
    const t = await taskJob({
      items: 12,
      steps: `  - name: blurb
    task: text
    model: gemini-2.5-flash
    prompt: "One paragraph about {{title}}"
    checks:
      - judge: { model: gemini-2.5-flash-lite, rubric: "Specific and free of filler.", min_score: 4 }
    on_fail: { regenerate: 1, then: keep }
`,
      extra: 'results: out/results.csv\n',
      emulator: {
        models: {
          'gemini-2.5-flash': { check_faults: { phrases: [{ rate: 0.4, text: '[weak]' }] } },
          'gemini-2.5-flash-lite': { judge: { marker: '[weak]', low: 2, high: 5 } },
        },
      },
    });
    const run = await t.run();
    expect(run.code, run.stderr.slice(-800)).toBe(0);
    const drafts = t.calls('gemini-2.5-flash');
    // One judge per draft; a first draft with the marker is regenerated once.
    expect(t.calls('gemini-2.5-flash-lite')).toBe(drafts);
    expect(drafts).toBeGreaterThan(12);
    const column = results(t.out('results.csv')).map((r) => r.blurb_checks);
    expect(new Set(column)).toEqual(new Set(['passed (judge 5)', 'judge (judge 2)']));
    const status = (await runCli(['status', t.job, '--json']).then((r) => JSON.parse(r.stdout))) as ChecksStatus;
    const kept = column.filter((c) => c === 'judge (judge 2)').length;
    expect(status.check_outcomes.blurb).toMatchObject({ kept, regenerated: drafts - 12 - kept });
    expect(status.checks.judge).toEqual({ passed: 12 - kept, failed: kept });
    // The judges' calls are booked apart: `cost` shows a blurb.judge line with their model.
    const cost = JSON.parse((await runCli(['cost', t.job, '--json'])).stdout) as { rows: { step: string; model: string; calls: number }[] };
    expect(cost.rows.filter((r) => r.step === 'blurb.judge').map((r) => [r.model, r.calls])).toEqual([['gemini-2.5-flash-lite', drafts]]);
    expect((await runCli(['cost', t.job])).stdout).toMatch(/blurb\.judge\s+gemini-2\.5-flash-lite/);
  }, 30_000);

  it('a judge that gives no verdict (its model not enabled) regenerates nothing: the paid output is kept, and retry --failed judges it once the judge works', async () => {
    const judged = `  - name: blurb
    task: text
    model: gemini-2.5-flash
    prompt: "One paragraph about {{title}}"
    checks:
      - judge: { model: gemini-2.5-flash-lite, rubric: "Specific and free of filler.", min_score: 4 }
    on_fail: { regenerate: 2, then: review }
`;
    const t = await taskJob({ items: 4, steps: judged, emulator: { projects: { studio: { unavailable_models: ['gemini-2.5-flash-lite'] } } } });
    writeFileSync(
      t.job,
      readFileSync(t.job, 'utf8').replace('limits: { concurrency: 4, max_attempts: 3 }', 'limits: { concurrency: 4, max_attempts: 1, max_stall: 1s }'),
    );
    const run = await t.run();
    // Each output was made once: nobody judged it, so nothing says it is bad.
    expect(t.calls('gemini-2.5-flash')).toBe(4);
    expect(run.code).toBe(1);
    const status = (await runCli(['status', t.job, '--json']).then((r) => JSON.parse(r.stdout))) as ChecksStatus;
    expect(status.failures.map((f) => f.error)).toEqual(['JUDGE_UNAVAILABLE', 'JUDGE_UNAVAILABLE', 'JUDGE_UNAVAILABLE', 'JUDGE_UNAVAILABLE']);
    expect(regenerations(join(t.dir, '.genbatch', 'task-job.db')).size).toBe(0);

    // The judge's model is enabled now (a fresh emulator): retry --failed and a run judge the kept outputs, with no new generation.
    const fixed = await startEmulator(
      parseEmulatorConfig({ seed: 17, latency_ms: 0, models: { 'gemini-2.5-flash-lite': { judge: { marker: '[weak]', low: 2, high: 5 } } } }),
      { port: 0 },
    );
    try {
      writeFileSync(join(t.dir, 'credentials.yaml'), readFileSync(join(t.dir, 'credentials.yaml'), 'utf8').replace(t.emulator.url, fixed.url));
      expect((await runCli(['retry', t.job, '--failed'])).code).toBe(0);
      const again = await t.run();
      expect(again.code, again.stderr.slice(-800)).toBe(0);
      const log = fixed.log();
      expect(log.filter((e) => e.model === 'gemini-2.5-flash')).toHaveLength(0);
      expect(log.filter((e) => e.model === 'gemini-2.5-flash-lite')).toHaveLength(4);
    } finally {
      await fixed.close();
    }
  }, 60_000);

  it('an image step: every blank or wrong-size image is caught, moved aside and regenerated; what stays passes', async () => {
    const t = await taskJob({
      items: 8,
      steps: `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "A picture of {{title}}"
    output: { file: "images/{{slug}}.png" }
    checks:
      - not_blank: true
      - size: { width: 1024, height: 1024 }
    on_fail: { regenerate: 3, then: fail }
`,
      emulator: { models: { 'gemini-2.5-flash-image': { check_faults: { blank_image: { rate: 0.15 }, wrong_size_image: { rate: 0.15 } } } } },
    });
    const run = await t.run();
    expect(run.code, run.stderr.slice(-800)).toBe(0);
    const stateFile = join(t.dir, '.genbatch', 'task-job.db');
    const replaced = readStateFile(
      stateFile,
      (db) => db.prepare('SELECT checks_json, outputs_json FROM check_attempts').all() as { checks_json: string; outputs_json: string }[],
    );
    const failedChecks = replaced.flatMap((r) =>
      (JSON.parse(r.checks_json) as { check: string; passed: boolean }[]).filter((v) => !v.passed).map((v) => v.check),
    );
    expect(failedChecks).toContain('not_blank');
    expect(failedChecks).toContain('size');
    expect(t.calls('gemini-2.5-flash-image')).toBe(8 + replaced.length);
    // Each replaced image was moved aside (the review page's before); every image left passes both checks.
    for (const r of replaced) for (const path of JSON.parse(r.outputs_json) as string[]) expect(existsSync(join(`${stateFile}.checks`, path))).toBe(true);
    const status = (await runCli(['status', t.job, '--json']).then((r) => JSON.parse(r.stdout))) as ChecksStatus;
    expect(status.checks).toEqual({ not_blank: { passed: 8, failed: 0 }, size: { passed: 8, failed: 0 } });
    const sharp = (await import('sharp')).default;
    for (const file of readdirSync(t.out('images'))) {
      const image = sharp(t.out('images', file));
      expect((await image.metadata()).width).toBe(1024);
      expect(Math.max(...(await image.stats()).channels.map((c) => c.stdev))).toBeGreaterThan(4);
    }
  }, 30_000);
});
