import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const ITEMS = 200;

interface Status {
  cost_usd: number;
  counts: Record<string, number>;
  models: Record<string, { by_model: Record<string, number>; cached: number }>;
}

/** The job file under another name (its own state file and results), the same input and steps. */
function copyJob(job: string, dir: string, name: string): string {
  const copy = join(dir, `${name}.yaml`);
  writeFileSync(
    copy,
    readFileSync(job, 'utf8')
      .replace(/^name: .*$/m, `name: ${name}`)
      .replace('results: results.csv', `results: ${name}.csv`),
  );
  return copy;
}

describe('the response cache', () => {
  it('a finished job copied to a new name runs with 0 requests at $0, every item cached; retry --rejected of 2 items makes exactly 2 calls', async () => {
    const dir = tempDir();
    const env = { GENBATCH_CACHE_DIR: join(dir, 'cache') };
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 1 }), { port: 0 });
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const job = writeJob(dir, { items: ITEMS, steps: BRIEF_STEP, limits: '{ concurrency: 8 }', extra: 'results: results.csv\n' });
    const first = await runCli(['run', job, '--yes', '--plain'], { env });
    expect(first.code, first.stderr.slice(-800)).toBe(0);
    const requests = (): number => emulator?.log().length ?? 0;
    expect(requests()).toBe(ITEMS);

    // A copy under a new name: its own state file, nothing done yet, every request already answered.
    const copy = copyJob(job, dir, 'copied-job');
    const second = await runCli(['run', copy, '--yes', '--plain'], { env });
    expect(second.code, second.stderr.slice(-800)).toBe(0);
    expect(requests()).toBe(ITEMS);
    const state = join(dir, '.genbatch', 'copied-job.db');
    expect(stepStates(state)).toEqual({ done: ITEMS });
    const status = JSON.parse((await runCli(['status', copy, '--json'], { env })).stdout) as Status;
    expect(status.cost_usd).toBe(0);
    expect(status.models.brief).toEqual({ by_model: { 'gemini-2.5-flash': ITEMS }, cached: ITEMS });
    const rows = parse(readFileSync(join(dir, 'copied-job.csv')), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(ITEMS);
    expect(rows.every((r) => r.brief_state === 'done' && r.brief_cached === 'yes' && r.brief_model === 'gemini-2.5-flash')).toBe(true);
    // The answers are the first job's, word for word.
    const original = parse(readFileSync(join(dir, 'results.csv')), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.brief_image_prompt)).toEqual(original.map((r) => r.brief_image_prompt));
    // The ledger marks them: $0 rows of "(cache)", no call.
    const ledger = readStateFile(state, (db) => db.prepare('SELECT project, cached, cost_usd FROM ledger').all()) as {
      project: string;
      cached: number;
      cost_usd: number;
    }[];
    expect(ledger).toHaveLength(ITEMS);
    expect(ledger.every((r) => r.project === '(cache)' && r.cached === 1 && r.cost_usd === 0)).toBe(true);
    const cost = await runCli(['cost', copy], { env });
    expect(cost.stdout).toMatch(new RegExp(`copied-job: \\$0\\.0000 over 0 calls, and ${ITEMS} answer\\(s\\) from the response cache at \\$0`));

    // Two answers rejected: they leave the cache at once, for every job. A new copy of the job pays for those two only.
    const ids = rows.slice(0, 2).map((r) => r.id as string);
    expect((await runCli(['reject', copy, ...ids, '--note', 'off-brand'], { env })).code).toBe(0);
    const third = await runCli(['run', copyJob(job, dir, 'third-copy'), '--yes', '--plain'], { env });
    expect(third.code, third.stderr.slice(-800)).toBe(0);
    expect(requests()).toBe(ITEMS + 2);
    const called = emulator.log().slice(-2);
    expect(called.map((c) => c.status)).toEqual([200, 200]);

    // retry --rejected, then resume: exactly the two rejected items are called again (never the cache).
    expect((await runCli(['retry', copy, '--rejected'], { env })).code).toBe(0);
    const redo = await runCli(['resume', copy, '--yes', '--plain'], { env });
    expect(redo.code, redo.stderr.slice(-800)).toBe(0);
    expect(requests()).toBe(ITEMS + 4);
    expect(stepStates(state)).toEqual({ done: ITEMS });
    const redone = readStateFile(state, (db) => db.prepare('SELECT item_id, cached FROM item_steps WHERE cached = 0').all()) as { item_id: string }[];
    expect(redone.map((r) => r.item_id).sort()).toEqual([...ids].sort());
  });

  it('--no-cache answers every request with a call, and images are not cached unless the step says cache: true', async () => {
    const dir = tempDir();
    const env = { GENBATCH_CACHE_DIR: join(dir, 'cache') };
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 1 }), { port: 0 });
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const imageStep = (cache: string): string => `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "A hero image for {{title}}"
    ${cache}output: { file: "images/{{slug}}.png" }
`;
    const job = writeJob(dir, { items: 5, steps: BRIEF_STEP + imageStep(''), limits: '{ concurrency: 2 }' });
    expect((await runCli(['run', job, '--yes'], { env })).code).toBe(0);
    expect(emulator.log().length).toBe(10);

    // The copy: the briefs come from the cache, the images are made again (fresh samples by default).
    const copy = copyJob(job, dir, 'second');
    expect((await runCli(['run', copy, '--yes'], { env })).code).toBe(0);
    expect(emulator.log().length).toBe(15);

    // --no-cache: everything is called again.
    const third = copyJob(job, dir, 'third');
    expect((await runCli(['run', third, '--yes', '--no-cache'], { env })).code).toBe(0);
    expect(emulator.log().length).toBe(25);

    // cache: true on the image step: the second run of it makes no call at all.
    const cachedImages = join(dir, 'cached-images.yaml');
    copyFileSync(job, cachedImages);
    writeFileSync(
      cachedImages,
      readFileSync(job, 'utf8')
        .replace('name: quota-job', 'name: cached-images')
        .replace('    output: { file: "images', '    cache: true\n    output: { file: "images'),
    );
    expect((await runCli(['run', cachedImages, '--yes'], { env })).code).toBe(0);
    expect(emulator.log().length).toBe(30);
    const fourth = copyJob(cachedImages, dir, 'fourth');
    expect((await runCli(['run', fourth, '--yes'], { env })).code).toBe(0);
    expect(emulator.log().length).toBe(30);
  });
});
