import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const HERO = `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "{{steps.brief.image_prompt}}"
    params: { aspect_ratio: "16:9" }
    output:
      file: "images/{{slug}}.webp"
      post: [ { resize: { width: 600, height: 315, fit: cover } } ]
`;

describe('a later step stalled by quota never re-bills an earlier one', () => {
  it('briefs all done, the image step stalls (75); the resume makes image calls only', async () => {
    const imageQuota = (n: number) => ({ models: { 'gemini-2.5-flash-image': { exhaust_after: n } } });
    emulator = await startEmulator(parseEmulatorConfig({ projects: { studio: imageQuota(0) } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'studio' }]);
    const job = writeJob(dir, { items: 12, steps: BRIEF_STEP, limits: '{ concurrency: 4, max_stall: 1s }' });
    expect((await runCli(['run', job, '--yes'])).code).toBe(0);
    // The image step is added once every brief is done; its model is out of quota.
    writeFileSync(job, readFileSync(job, 'utf8').replace('limits:', `${HERO}limits:`));
    const stalled = await runCli(['run', job, '--yes']);
    expect(stalled.code).toBe(75);
    const briefsServed = emulator.log().filter((r) => r.model === 'gemini-2.5-flash' && r.status === 200).length;
    expect(briefsServed).toBe(12);

    // Later: the quota is back (and the saved exhaustion has run out).
    emulator.setConfig(parseEmulatorConfig({ projects: { studio: imageQuota(1000) } }));
    const db = new Database(join(dir, '.genbatch', 'quota-job.db'));
    db.prepare("UPDATE project_state SET until_at = '2000-01-01T00:00:00.000Z'").run();
    db.close();
    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code).toBe(0);
    expect(emulator.log().filter((r) => r.model === 'gemini-2.5-flash').length).toBe(12); // no second brief
    expect(emulator.log().filter((r) => r.model === 'gemini-2.5-flash-image' && r.status === 200).length).toBe(12);
    const images = readdirSync(join(dir, 'out', 'images'));
    expect(images).toHaveLength(12);
    for (const name of images) expect(await sharp(join(dir, 'out', 'images', name)).metadata()).toMatchObject({ format: 'webp', width: 600, height: 315 });
  });
});
