import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { posts } from '../helpers/job-fixture.js';
import { useTaskJobs } from './task-job.js';

const taskJob = useTaskJobs();

const STEP = `  - name: clip
    task: video
    model: veo-3.0-generate-001
    prompt: "A short teaser for {{title}}"
    params: { duration_seconds: 4, aspect_ratio: "16:9" }
    output: { file: "videos/{{slug}}.mp4" }
`;

describe('task: video (veo-3.0-generate-001)', () => {
  it('writes one MP4 per item; each video is started once and billed by its seconds', async () => {
    const t = await taskJob({ items: 3, steps: STEP, emulator: { video_ms: 200 }, extra: 'results: out/results.csv\n' });
    const run = await t.run();
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(run.code).toBe(0);

    const names = readdirSync(t.out('videos')).sort();
    expect(names).toEqual(['kubernetes-1.mp4', 'postgresql-3.mp4', 'terraform-2.mp4']);
    for (const name of names) {
      const bytes = readFileSync(t.out('videos', name));
      // An ISO BMFF file: the first box is `ftyp` and its size fits the file.
      expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
      expect(bytes.readUInt32BE(0)).toBeLessThanOrEqual(bytes.length);
    }
    // One predictLongRunning per item (polls are free and not logged).
    expect(t.calls('veo-3.0-generate-001')).toBe(3);
    expect(t.emulator.stats().projects.studio?.videos_seconds).toBe(12);
    const status = await t.status();
    expect(status.counts).toMatchObject({ done: 3, failed: 0 });
    // generate_audio is left out: Veo 3 makes audio, genbatch sends generateAudio: true and prices it so.
    expect(status.cost_usd).toBeCloseTo(12 * 0.4, 6);
  });

  it('generate_audio: false is sent and priced without audio', async () => {
    const t = await taskJob({
      items: 2,
      steps: STEP.replace('aspect_ratio: "16:9" }', 'aspect_ratio: "16:9", generate_audio: false }'),
      emulator: { video_ms: 100 },
    });
    expect((await t.run()).code).toBe(0);
    expect((await t.status()).cost_usd).toBeCloseTo(8 * 0.2, 6);
  });

  it('storage_uri: the video Vertex wrote to Cloud Storage is read into the output file, byte for byte', async () => {
    const steps = STEP.replace('aspect_ratio: "16:9" }', 'aspect_ratio: "16:9", storage_uri: "gs://clips-bucket/veo" }');
    const t = await taskJob({ items: 2, steps, emulator: { video_ms: 100 } });
    const run = await t.run();
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    const names = readdirSync(t.out('videos')).sort();
    expect(names).toHaveLength(2);
    for (const name of names) {
      const bytes = readFileSync(t.out('videos', name));
      expect(bytes.length).toBeGreaterThan(100);
      expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    }
    // The same bytes as the objects the emulator's Veo stored under the prefix.
    const list = (await (await fetch(`${t.emulator.url}/storage/v1/b/clips-bucket/o?prefix=veo/`)).json()) as { items?: { name: string; size: string }[] };
    expect(list.items?.map((o) => Number(o.size)).sort()).toEqual(names.map((n) => readFileSync(t.out('videos', n)).length).sort());
    expect((await t.status()).counts).toMatchObject({ done: 2, failed: 0 });
  });

  it('a blocked prompt ends the operation filtered, with its reason, and is not started again', async () => {
    const rows = posts(2).map((p, i) => ({ ...p, title: i === 0 ? `${p.title} [unsafe]` : p.title }));
    const t = await taskJob({ rows, steps: STEP, emulator: { video_ms: 100 } });
    // Filtered: an outcome, not a failure (exit 0).
    expect((await t.run()).code).toBe(0);
    const status = await t.status();
    expect(status.counts).toMatchObject({ done: 1, filtered: 1 });
    expect(status.failures).toEqual([
      {
        id: rows[0]?.slug,
        step: 'clip',
        error: 'SAFETY_FILTERED',
        message: expect.stringMatching(/safety/i) as unknown,
        model: 'veo-3.0-generate-001',
        finish_reason: '',
      },
    ]);
    expect(t.calls('veo-3.0-generate-001')).toBe(2);
    expect(readdirSync(t.out('videos'))).toEqual([`${rows[1]?.slug}.mp4`]);
    expect((await t.run()).code).toBe(0);
    expect(t.calls('veo-3.0-generate-001')).toBe(2);
  });
});
