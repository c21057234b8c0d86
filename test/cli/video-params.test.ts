import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/** The product-videos example with its params line replaced. */
function videoJob(params: string): { dir: string; file: string; line: number } {
  const dir = tempDir();
  cpSync(join(REPO, 'jobs'), join(dir, 'jobs'), { recursive: true, filter: (src) => !src.includes('.genbatch') });
  cpSync(join(REPO, 'fixtures', 'credentials.emulator.yaml'), join(dir, 'fixtures', 'credentials.emulator.yaml'));
  const file = join(dir, 'jobs', 'product-videos.yaml');
  const lines = readFileSync(file, 'utf8').split('\n');
  const index = lines.findIndex((l) => l.trimStart().startsWith('params:'));
  lines[index] = `    params: ${params}`;
  writeFileSync(file, lines.join('\n'));
  return { dir, file: 'jobs/product-videos.yaml', line: index + 1 };
}

describe('video params are checked against the Veo model before any call', () => {
  it('resolution: 4k is refused with the values the model accepts, naming the file and line (exit 2)', async () => {
    const job = videoJob('{ duration_seconds: 4, resolution: 4k }');
    const result = await runCli(['validate', job.file, '--emulator'], { cwd: job.dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `${job.file}:${job.line}: steps.clip.params.resolution: "4k" is not accepted by veo-3.0-fast-generate-001; use one of "720p", "1080p".`,
    );
    expect(result.stderr).toContain('docs/video.md');
  });

  it('every bad value is listed at once: duration, aspect ratio and sample count; run sends nothing', async () => {
    const job = videoJob('{ duration_seconds: 5, aspect_ratio: "4:3", sample_count: 9 }');
    const result = await runCli(['run', job.file, '--emulator', '--yes'], { cwd: job.dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('params.duration_seconds: 5 is not accepted by veo-3.0-fast-generate-001; use one of 4, 6, 8');
    expect(result.stderr).toContain('params.aspect_ratio: "4:3" is not accepted by veo-3.0-fast-generate-001; use one of "16:9", "9:16"');
    expect(result.stderr).toContain('params.sample_count: 9 is not accepted by veo-3.0-fast-generate-001; use a whole number from 1 to 4');
    expect(result.stderr).not.toMatch(/Using the in-process Vertex AI emulator/);
  });

  it('the values docs/video.md documents are accepted', async () => {
    const job = videoJob('{ duration_seconds: 8, resolution: 1080p, aspect_ratio: "9:16", sample_count: 2, generate_audio: true }');
    const result = await runCli(['validate', job.file, '--emulator'], { cwd: job.dir });
    expect(result.stderr).toMatch(/^product-videos: valid\. 4 items/);
    expect(result.code).toBe(0);
  });
});
