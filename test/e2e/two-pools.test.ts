import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, IMAGE_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const ITEMS = 40;
const BRIEF_MODEL = 'gemini-2.5-flash';
const IMAGE_MODEL = 'gemini-2.5-flash-image';

/** Briefs on pool `text` (project writer), images on pool `images` (project studio). */
function writeTwoPoolJob(dir: string, url: string): string {
  writeCredentials(join(dir, 'credentials.yaml'), url, [
    { name: 'writer', extra: 'pool: text' },
    { name: 'studio', extra: 'pool: images' },
  ]);
  return writeJob(dir, {
    items: ITEMS,
    steps: `${BRIEF_STEP}    pool: text\n${IMAGE_STEP}    pool: images\n`,
    limits: '{ concurrency: 4, max_stall: 5s }',
  });
}

describe('two pools: one that cannot be served never stops the other', () => {
  it('does every brief while the image pool has no quota, exits 75 naming pool "images", and the resume after the quota is back makes image calls only', async () => {
    // The image project has no quota at all for its model: every call is refused as out for the day.
    emulator = await startEmulator(parseEmulatorConfig({ projects: { studio: { models: { [IMAGE_MODEL]: { exhaust_after: 0 } } } } }), { port: 0 });
    const dir = tempDir();
    const job = writeTwoPoolJob(dir, emulator.url);
    const stateFile = join(dir, '.genbatch', 'quota-job.db');

    const stalled = await runCli(['run', job, '--yes']);
    expect(stalled.code).toBe(75);
    expect(stalled.stderr).toMatch(/Stalled on quota: no pending work could make progress for \d+s/);
    expect(stalled.stderr).toMatch(
      new RegExp(`pool "images", model ${IMAGE_MODEL.replace(/\./g, '\\.')}: every project is out of its daily quota; expected back at \\d{4}-`),
    );
    expect(stalled.stderr).not.toMatch(/pool "text"/);
    expect(stalled.stderr).toMatch(new RegExp(`Completed meanwhile in this run: ${ITEMS} step\\(s\\) \\(brief: ${ITEMS}\\)`));
    const first = emulator.log();
    expect(first.filter((r) => r.model === BRIEF_MODEL && r.status === 200)).toHaveLength(ITEMS);
    // No hammering: only calls already on their way when the first refusal came, then nothing for the day.
    const refused = first.filter((r) => r.model === IMAGE_MODEL);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeLessThanOrEqual(4);
    expect(refused.every((r) => r.status === 429)).toBe(true);
    expect(stateCounts(stateFile)).toEqual({ done: ITEMS, pending: ITEMS });

    // The quota is back: a fresh emulator with quota; the state file is left as the run left it.
    await emulator.close();
    emulator = await startEmulator(parseEmulatorConfig({}), { port: 0 });
    writeTwoPoolJob(dir, emulator.url);
    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code).toBe(0);
    const second = emulator.log();
    expect(second.filter((r) => r.model === BRIEF_MODEL)).toHaveLength(0); // 40 brief requests in all
    expect(second.filter((r) => r.model === IMAGE_MODEL && r.status === 200)).toHaveLength(ITEMS);
    expect(stateCounts(stateFile)).toEqual({ done: 2 * ITEMS });
    const images = readdirSync(join(dir, 'out', 'images'));
    expect(images).toHaveLength(ITEMS);
    expect(await sharp(join(dir, 'out', 'images', images[0] ?? '')).metadata()).toMatchObject({ format: 'png' });
  });
});
