import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { checkpointedOperations } from '../helpers/state-file.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const VIDEO_STEP = `  - name: clip
    task: video
    model: veo-3.0-fast-generate-001
    prompt: "A short teaser for {{title}}"
    params: { duration_seconds: 4 }
    output: { file: "videos/{{slug}}.mp4" }
`;

describe('video: long-running operations survive a kill', () => {
  it('a killed run resumes by polling the same operations: one predictLongRunning per item', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ video_ms: 2500, latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'studio' }]);
    const job = writeJob(dir, { items: 4, steps: VIDEO_STEP, limits: '{ concurrency: 4 }' });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const child = spawnCli(['run', job, '--yes']);
    const deadline = Date.now() + 20_000;
    while (checkpointedOperations(stateFile) < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(checkpointedOperations(stateFile)).toBe(4); // every operation name checkpointed before any is done
    child.kill('SIGKILL');
    await child.output;

    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/waiting: polling the video operation started before for item "kubernetes-1"/);
    const started = emulator.log().filter((r) => r.model.startsWith('veo'));
    expect(started).toHaveLength(4); // polls are free and not in the log; each video was paid once
    expect(emulator.stats().projects.studio?.videos_seconds).toBe(16);
    expect(readdirSync(join(dir, 'out', 'videos')).sort()).toEqual(['kubernetes-1.mp4', 'postgresql-3.mp4', 'redis-4.mp4', 'terraform-2.mp4']);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { counts: Record<string, number>; cost_usd: number };
    expect(status.counts.done).toBe(4);
    // generate_audio left out: Veo 3 makes audio, genbatch sends generateAudio: true and prices it so.
    expect(status.cost_usd).toBeCloseTo(16 * 0.15, 6);
  });

  it('SIGTERM while operations run stops at once: the operation names are kept and the resume polls them', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ video_ms: 6000, latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'studio' }]);
    const job = writeJob(dir, { items: 4, steps: VIDEO_STEP, limits: '{ concurrency: 4 }' });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const child = spawnCli(['run', job, '--yes']);
    const deadline = Date.now() + 20_000;
    while (checkpointedOperations(stateFile) < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const termAt = Date.now();
    child.kill('SIGTERM');
    const stopped = await child.output;
    const stopMs = Date.now() - termAt;
    // Not the 6 s the operations take: systemd's stop timeout must not be at the mercy of Veo.
    expect(stopMs, stopped.stderr).toBeLessThan(3000);
    expect(stopped.stderr).toMatch(/4 video operation\(s\) are still running at Vertex\. Their names are saved: `genbatch resume JOB` polls them/);
    expect(checkpointedOperations(stateFile)).toBe(4);

    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(emulator.log().filter((r) => r.model.startsWith('veo'))).toHaveLength(4); // no operation started twice
    expect(readdirSync(join(dir, 'out', 'videos'))).toHaveLength(4);
  });
});
