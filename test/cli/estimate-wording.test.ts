import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

function examples(): string {
  const dir = tempDir();
  cpSync(join(REPO, 'jobs'), join(dir, 'jobs'), { recursive: true, filter: (src) => !src.includes('.genbatch') });
  for (const file of ['credentials.emulator.yaml', 'blog-posts.csv']) cpSync(join(REPO, 'fixtures', file), join(dir, 'fixtures', file));
  return dir;
}

describe('what the estimate says', () => {
  it('on a finished job: nothing left, and no pilot that never ran', async () => {
    const dir = examples();
    expect((await runCli(['run', 'jobs/catalogue-alt-text.yaml', '--emulator', '--yes', '--plain'], { cwd: dir })).code).toBe(0);
    const text = await runCli(['estimate', 'jobs/catalogue-alt-text.yaml', '--emulator'], { cwd: dir });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/ETA: nothing left to do/);
    expect(text.stdout).not.toMatch(/pilot/i);
    const json = JSON.parse((await runCli(['estimate', 'jobs/catalogue-alt-text.yaml', '--emulator', '--json'], { cwd: dir })).stdout) as {
      pilot: unknown;
      remaining_items: number;
    };
    expect(json).toMatchObject({ pilot: null, remaining_items: 0 });
  });

  it('half done: the measured steps say they were measured on earlier runs, not by a pilot', async () => {
    const dir = examples();
    expect((await runCli(['run', 'jobs/titles-on-images.yaml', '--emulator', '--yes', '--plain', '--limit', '1'], { cwd: dir })).code).toBe(0);
    const text = await runCli(['estimate', 'jobs/titles-on-images.yaml', '--emulator'], { cwd: dir });
    expect(text.stdout).toMatch(/picture .* 2 calls .*\(measured on earlier runs\)/);
    expect(text.stdout).not.toMatch(/calibrated by a pilot/);
    // The credentials declare quotas for the image model: the ETA comes from them.
    expect(text.stdout).toMatch(/ETA: (under a second|\S+) \(from the declared quotas\)/);
  });

  it('with image quotas declared but none for the text model: names the model without one, not "no quotas declared"', async () => {
    const dir = examples();
    const text = await runCli(['estimate', 'jobs/blog-hero-images.yaml', '--emulator'], { cwd: dir });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('ETA: unknown (no quota declared for gemini-2.5-flash in the credentials file;');
    expect(text.stdout).not.toMatch(/no quotas declared|gemini-2\.5-flash-image in the credentials/);
    const json = JSON.parse((await runCli(['estimate', 'jobs/blog-hero-images.yaml', '--emulator', '--json'], { cwd: dir })).stdout) as {
      eta_unknown_models: string[];
    };
    expect(json.eta_unknown_models).toEqual(['gemini-2.5-flash']);
  });
});
