import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { writeJobFixture } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const served = (emu: RunningEmulator): number => Object.values(emu.stats().projects).reduce((n, p) => n + p.ok, 0);

async function status(job: string): Promise<{ stale: number; counts: Record<string, number> }> {
  return JSON.parse((await runCli(['status', job, '--json'])).stdout) as { stale: number; counts: Record<string, number> };
}

describe('item identity: stale items', () => {
  it('notices a changed input row or template, keeps done items by default, and --redo-stale redoes just those', async () => {
    emulator = await startEmulator(parseEmulatorConfig({}), { port: 0 });
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: emulator.url, items: 6 });
    expect((await runCli(['run', job])).code).toBe(0);
    expect(served(emulator)).toBe(12);
    expect((await status(job)).stale).toBe(0);

    // One input row changes: its brief (and so its image) is stale.
    const csv = join(dir, 'posts.csv');
    writeFileSync(csv, readFileSync(csv, 'utf8').replace('What we learned running Terraform in production', 'What we learned moving Terraform to OpenTofu'));
    expect((await status(job)).stale).toBe(1);
    const kept = await runCli(['run', job]);
    expect(kept.stderr).toMatch(/Note: 1 done item\(s\) are stale .* Use --redo-stale to redo them\./);
    expect(served(emulator)).toBe(12);

    const redo = await runCli(['run', job, '--redo-stale']);
    expect(redo.code).toBe(0);
    expect(redo.stderr).toMatch(/Redoing 1 stale item\(s\)/);
    expect(served(emulator)).toBe(14);
    expect((await status(job)).stale).toBe(0);

    // A template of the second step changes: every item's image is stale, its brief is not.
    writeFileSync(job, readFileSync(job, 'utf8').replace('prompt: "{{steps.brief.image_prompt}}"', 'prompt: "{{steps.brief.image_prompt}}, watercolour"'));
    expect((await status(job)).stale).toBe(6);
    await runCli(['run', job, '--redo-stale']);
    const stats = emulator.stats().projects;
    const images = Object.values(stats).reduce((n, p) => n + (p.by_model['gemini-2.5-flash-image']?.ok ?? 0), 0);
    const briefs = Object.values(stats).reduce((n, p) => n + (p.by_model['gemini-2.5-flash']?.ok ?? 0), 0);
    expect([briefs, images]).toEqual([7, 13]);
  });
});

describe('genbatch preview', () => {
  it('prints the first N rendered prompts of every step without calling anything', async () => {
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: 'http://127.0.0.1:9', items: 8 });
    const result = await runCli(['preview', job, '--n', '2']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/── kubernetes-1 \(.*posts\.csv:2\)/);
    expect(result.stdout).toMatch(
      /\[brief\] text · gemini-2\.5-flash\n {4}Image brief for Kubernetes in production, part 1: What we learned running Kubernetes in production/,
    );
    expect(result.stdout).toMatch(/\[hero\] image · gemini-2\.5-flash-image → images\/kubernetes-1\.png\n {4}⟨steps\.brief\.image_prompt⟩/);
    expect(result.stdout).toMatch(/── terraform-2/);
    expect(result.stdout).not.toMatch(/prometheus-3/);
    expect(result.stderr).toMatch(/2 of 8 items shown; nothing was sent\./);
    const json = JSON.parse((await runCli(['preview', job, '--n', '1', '--json'])).stdout) as { id: string; steps: { prompt: string }[] }[];
    expect(json).toHaveLength(1);
    expect(json[0]?.steps[0]?.prompt).toBe(
      'Image brief for Kubernetes in production, part 1: What we learned running Kubernetes in production: the mistakes, the fixes, and the numbers (1).',
    );
  });
});
