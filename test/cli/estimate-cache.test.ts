import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobEstimate } from '../../src/engine/estimate-job.js';
import { runCli } from '../helpers/cli.js';
import { posts, writePostsCsv } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
const ITEMS = 12;

const TEXT_STEP = `  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: "Image brief for {{title}}"
    json: { image_prompt: string }
    max_output_tokens: 300
`;
/** Images are not cached by default: their answers are always calls. */
const IMAGE_STEP = `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "{{steps.brief.image_prompt}}"
    output: { file: "images/{{slug}}.png" }
`;

/** A job over ITEMS posts on emulated projects (placeholder keys, `--emulator`), named `name` (its own state file). */
function writeJob(dir: string, name: string, steps: string): string {
  if (!existsSync(join(dir, 'posts.csv'))) writePostsCsv(join(dir, 'posts.csv'), posts(ITEMS));
  if (!existsSync(join(dir, 'credentials.yaml')))
    writeFileSync(join(dir, 'credentials.yaml'), 'projects:\n  - { name: p, project: p, location: us-central1, api_key: emulator }\n');
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `version: 1\nname: ${name}\ninput: { file: posts.csv, id: slug }\ncredentials: credentials.yaml\nsteps:\n${steps}limits: { concurrency: 4 }\n`,
  );
  return file;
}

describe('estimates count the answers the response cache holds (issue 27.14)', () => {
  it('a copy of a finished job is estimated at $0, saying how many answers are cached; the run agrees', async () => {
    const dir = tempDir();
    const first = await runCli(['run', writeJob(dir, 'first', TEXT_STEP), '--emulator', '--yes', '--plain']);
    expect(first.code).toBe(0);

    const copy = writeJob(dir, 'copy', TEXT_STEP);
    const text = await runCli(['estimate', copy, '--emulator']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${ITEMS} of ${ITEMS} answers are in the response cache: $0`);
    expect(text.stdout).toMatch(/total \(low \/ expected \/ high\): \$0\.0000 \/ \$0\.0000 \/ \$0\.0000/);
    const json = JSON.parse((await runCli(['estimate', copy, '--emulator', '--json'])).stdout) as JobEstimate;
    expect(json.cached_answers).toEqual({ answers: ITEMS, of: ITEMS });
    expect(json.remaining_usd).toEqual({ low: 0, expected: 0, high: 0 });
    expect(json.by_step[0]).toMatchObject({ step: 'brief', items: ITEMS, cached_items: ITEMS, requests: 0 });

    const run = await runCli(['run', copy, '--emulator', '--yes', '--plain']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(
      `Estimate vs actual for this run: expected $0.0000 ($0.0000–$0.0000; ${ITEMS} of ${ITEMS} answers in the response cache: $0), spent $0.0000.`,
    );
  });

  it('only what the cache holds is free: the uncached image step is still priced, and --no-cache prices every call', async () => {
    const dir = tempDir();
    expect((await runCli(['run', writeJob(dir, 'first', TEXT_STEP), '--emulator', '--yes', '--plain'])).code).toBe(0);
    const both = writeJob(dir, 'both', TEXT_STEP + IMAGE_STEP);
    const json = JSON.parse((await runCli(['estimate', both, '--emulator', '--json'])).stdout) as JobEstimate;
    expect(json.cached_answers).toEqual({ answers: ITEMS, of: 2 * ITEMS });
    expect(json.by_step.map((s) => [s.step, s.usd.expected > 0, s.cached_items ?? 0])).toEqual([
      ['brief', false, ITEMS],
      ['hero', true, 0],
    ]);
    const run = await runCli(['run', both, '--emulator', '--yes', '--plain', '--no-cache']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/Estimate vs actual for this run: expected \$0\.[0-9]*[1-9][0-9]* \(\$[0-9.]+–\$[0-9.]+\), spent/);
  });

  it('an estimate never creates the cache; with none, it says nothing of it', async () => {
    const dir = tempDir();
    const cacheDir = process.env.GENBATCH_CACHE_DIR ?? '';
    const before = readdirSync(cacheDir);
    const run = await runCli(['estimate', writeJob(dir, 'fresh', TEXT_STEP), '--emulator']);
    expect(run.code).toBe(0);
    expect(run.stdout).not.toMatch(/response cache/);
    expect(readdirSync(cacheDir)).toEqual(before);
    expect(readFileSync(join(dir, 'fresh.yaml'), 'utf8')).toContain('name: fresh');
  });
});
