import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls } from '../helpers/billed.js';
import { runCli } from '../helpers/cli.js';
import { NOTE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { bindReadOnly, canMount, unmount } from '../helpers/mounts.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Issue 25, point 15: a `results:` path that is a folder was found only after every call was paid,
 * then the run crashed (EISDIR). Every place a run writes is checked before the first call: exit 2,
 * the key and the path named, nothing sent.
 */
const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
let mounted: string | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
  if (mounted) unmount(mounted);
  mounted = undefined;
});

async function setUp(extra: string): Promise<{ dir: string; job: string }> {
  emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 5 }), { port: 0 });
  const dir = tempDir();
  writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
  return { dir, job: writeJob(dir, { items: 8, steps: NOTE_STEP, limits: '{ concurrency: 2 }', extra }) };
}

async function expectRefused(job: string, pattern: RegExp): Promise<void> {
  for (const command of [
    ['validate', job],
    ['run', job, '--yes'],
  ]) {
    const result = await runCli(command);
    expect(result.stderr, command[0]).not.toMatch(/EISDIR|crashed|This is a bug|\n\s+at /);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(pattern);
  }
  expect(emulator?.log().length).toBe(0);
  expect(billedCalls(emulator as RunningEmulator)).toBe(0);
}

describe('output and results paths are checked before the first call', () => {
  it('a results path that is a folder: exit 2 naming `results` and the path, nothing paid', async () => {
    const { dir, job } = await setUp('results: out/results.csv\n');
    mkdirSync(join(dir, 'out', 'results.csv'), { recursive: true });
    await expectRefused(job, /results: .*out\/results\.csv is a folder, not a file; nothing was sent\.\n.*hint: Point `results` at a path genbatch can write/);
  });

  it('an output folder that is a file, and a step output folder that is a file: exit 2 naming each key', async () => {
    const first = await setUp('output_dir: out\n');
    writeFileSync(join(first.dir, 'out'), 'not a folder');
    await expectRefused(first.job, /output_dir: .*\/out is a file, not a folder; nothing was sent\./);
    await emulator?.close();

    const second = await setUp('');
    mkdirSync(join(second.dir, 'out'), { recursive: true });
    writeFileSync(join(second.dir, 'out', 'notes'), 'not a folder');
    await expectRefused(second.job, /steps\.note\.output\.file: .*out\/notes is a file, not a folder; nothing was sent\./);
  });

  it.skipIf(!canMount)('a results folder on a read-only mount (a real read-only bind mount): exit 2, nothing paid', async () => {
    const { dir, job } = await setUp('results: tables/results.csv\n');
    mounted = join(dir, 'tables');
    bindReadOnly(mounted);
    await expectRefused(job, /results: .*tables\/results\.csv is in a folder that cannot be written \(.*tables: EROFS\); nothing was sent\./);
  });
  it('--metrics-file or --log naming a folder: exit 2 naming the flag, nothing sent', async () => {
    const { dir, job } = await setUp('');
    mkdirSync(join(dir, 'taken'));
    for (const [flag, pattern] of [
      ['--metrics-file', /--metrics-file .*\/taken is a folder, not a file\./],
      ['--log', /Cannot write the run log .*taken: EISDIR/],
    ] as const) {
      const result = await runCli(['run', job, '--yes', flag, join(dir, 'taken')]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(pattern);
      expect(result.stderr).toContain('Nothing was sent.');
    }
    expect(emulator?.log().length).toBe(0);
  });
});
