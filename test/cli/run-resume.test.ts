import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { writeJobFixture } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';
import { stepStates } from '../helpers/state-file.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function emulatorWith(config: Record<string, unknown>): Promise<RunningEmulator> {
  emulator = await startEmulator(parseEmulatorConfig(config), { port: 0 });
  return emulator;
}

function okCalls(emu: RunningEmulator): number {
  return Object.values(emu.stats().projects).reduce((sum, p) => sum + p.ok, 0);
}

function allFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

describe('run, status and resume against an emulator over HTTP', () => {
  it('runs a two-step job to the end, writes images and results, and reports status', async () => {
    const emu = await emulatorWith({ seed: 3 });
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: emu.url, items: 12 });
    const run = await runCli(['run', job]);
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(run.code).toBe(0);

    const images = readdirSync(join(dir, 'out', 'images'));
    expect(images).toHaveLength(12);
    for (const name of images) {
      const meta = await sharp(join(dir, 'out', 'images', name)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 320, 180]);
    }
    const rows = parse(readFileSync(join(dir, 'out', 'results.csv')), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(12);
    expect(rows[0]).toMatchObject({ brief_state: 'done', hero_state: 'done', hero_file: expect.stringMatching(/^images\/.*\.png$/) });
    expect(rows[0]?.brief_alt_text).not.toBe('');

    const status = await runCli(['status', job, '--json']);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      job: 'test-job',
      total: 12,
      counts: { pending: 0, running: 0, done: 12, failed: 0, filtered: 0 },
      steps: { brief: { done: 12 }, hero: { done: 12 } },
      requests: 24,
      failures: [],
      last_run: { outcome: 'finished', exit_code: 0 },
    });
    expect(report.cost_usd).toBeGreaterThan(0);
    expect(okCalls(emu)).toBe(24);

    // A finished job: resume makes zero calls and says so.
    const again = await runCli(['resume', job]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/Nothing to do: all 12 items are finished .* No API calls were made\./);
    expect(okCalls(emu)).toBe(24);
    const served = Object.values(emu.stats().projects).reduce((sum, p) => sum + p.requests, 0);
    expect(served).toBe(24);
  });

  it('writes text steps as UTF-8 files and JSON steps as JSON', async () => {
    const emu = await emulatorWith({ seed: 5 });
    const dir = tempDir();
    const job = writeJobFixture(dir, {
      endpoint: emu.url,
      items: 3,
      imageStep: false,
      extraJob: '',
    });
    const text = readFileSync(job, 'utf8').replace(
      '    max_output_tokens: 300\n',
      '    max_output_tokens: 300\n    output: { file: "briefs/{{slug}}.json" }\n  - name: blurb\n    task: text\n    model: gemini-2.5-flash\n    prompt: "A blurb about {{title}} — {{steps.brief.alt_text}}"\n    output: { file: "blurbs/{{slug}}.txt" }\n',
    );
    writeFileSync(job, text);
    const run = await runCli(['run', job]);
    expect(run.code).toBe(0);
    const brief = JSON.parse(readFileSync(join(dir, 'out', 'briefs', 'kubernetes-1.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(brief).sort()).toEqual(['alt_text', 'image_prompt']);
    const blurb = readFileSync(join(dir, 'out', 'blurbs', 'kubernetes-1.txt'), 'utf8');
    expect(blurb.length).toBeGreaterThan(20);
    expect(blurb).not.toMatch(/^\{/);
  });

  it('reports failed items with reasons in status --json and exits 1', async () => {
    const emu = await emulatorWith({ seed: 3 });
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: emu.url, items: 4, imageStep: false });
    // Replies cut at 5 tokens (MAX_TOKENS) fail at once as TRUNCATED: the same settings would be cut
    // again, so they are billed once and not retried (docs/finish-reasons.md).
    writeFileSync(job, readFileSync(job, 'utf8').replace('max_output_tokens: 300', 'max_output_tokens: 5'));
    const run = await runCli(['run', job]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/ended: failed_items \(exit 1\)/);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as {
      failures: { id: string; step: string; error: string; message: string; finish_reason: string }[];
      counts: Record<string, number>;
      requests: number;
    };
    expect(status.counts).toMatchObject({ failed: 4, done: 0 });
    expect(status.failures).toHaveLength(4);
    expect(status.failures[0]).toMatchObject({ id: 'kubernetes-1', step: 'brief', error: 'TRUNCATED', finish_reason: 'MAX_TOKENS' });
    expect(status.failures[0]?.message).toMatch(/cut at max_output_tokens \(5[,)]/);
    expect(status.requests).toBe(4);
  });

  it('survives SIGKILL at three moments: each resume completes, nothing is done twice, no partial file', async () => {
    const emu = await emulatorWith({ seed: 11, latency_ms: { min: 30, max: 90 } });
    const dir = tempDir();
    const concurrency = 4;
    const items = 40;
    const job = writeJobFixture(dir, { endpoint: emu.url, items, concurrency });
    const stateFile = join(dir, '.genbatch', 'test-job.db');
    const killAt = [8, 30, 55]; // done steps (of 80) at which the run is killed

    for (const threshold of killAt) {
      const child = spawnCli(['run', job]);
      await waitUntil(() => (stepStates(stateFile).done ?? 0) >= threshold);
      child.kill('SIGKILL');
      const result = await child.output;
      expect(result.signal).toBe('SIGKILL');
    }
    const final = await runCli(['resume', job]);
    expect(final.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(final.code).toBe(0);

    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { counts: Record<string, number> };
    expect(status.counts).toMatchObject({ done: items, pending: 0, running: 0, failed: 0 });
    // Every item done exactly once: one image each, and the only extra billed calls are those in flight at a kill.
    const outputs = allFiles(join(dir, 'out'));
    const images = outputs.filter((f) => f.includes(`${join('out', 'images')}`));
    expect(images).toHaveLength(items);
    for (const file of outputs) {
      expect(statSync(file).size, file).toBeGreaterThan(0);
      expect(file).not.toMatch(/\.tmp$/);
    }
    for (const image of images) await expect(sharp(image).metadata()).resolves.toMatchObject({ width: 320, height: 180 });
    const extra = okCalls(emu) - items * 2;
    expect(extra).toBeGreaterThanOrEqual(0);
    expect(extra).toBeLessThanOrEqual(concurrency * killAt.length);
  });
});
