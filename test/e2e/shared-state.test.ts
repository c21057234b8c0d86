import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

// Room for the longest emulated reply: half of max_output_tokens goes to thinking (docs/thinking.md).
const NOTE_STEP = `  - name: note
    task: text
    model: gemini-2.5-flash
    prompt: "A short note about {{title}}"
    max_output_tokens: 2000
`;

describe('two job files with the same name: in one folder', () => {
  it('the second is refused naming both (exit 2, nothing sent); a job file moved away hands its state over', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const job = writeJob(dir, { items: 6, steps: NOTE_STEP, limits: '{ concurrency: 2 }' });
    const state = join(dir, '.genbatch', 'quota-job.db');
    expect((await runCli(['run', job, '--yes'])).code).toBe(0);

    // A copy with another prompt but the same name (so the same default state file).
    const copy = join(dir, 'job-v2.yaml');
    writeFileSync(copy, readFileSync(job, 'utf8').replace('A short note about', 'A long essay on'));
    const calls = emulator.log().length;
    for (const command of [
      ['run', copy, '--yes', '--redo-stale'],
      ['resume', copy, '--yes'],
      ['status', copy],
    ]) {
      const refused = await runCli(command);
      expect(refused.stderr).toMatch(
        /job-v2\.yaml and \S*job\.yaml both use the state file \S*\.genbatch\/quota-job\.db \(same name "quota-job"\): it belongs to \S*job\.yaml/,
      );
      expect(refused.stderr).toMatch(/hint: Give \S*job-v2\.yaml a name of its own \(name:\) or a state file of its own \(state:\)/);
      expect(refused.stderr).not.toMatch(/\n\s+at /);
      expect(refused.code).toBe(2);
    }
    expect(emulator.log().length).toBe(calls);
    expect(stepStates(state)).toEqual({ done: 6 });

    // The original still runs (nothing to do).
    const again = await runCli(['run', job, '--yes']);
    expect(again.stderr).toMatch(/Nothing to do/);
    expect(again.code).toBe(0);

    // Renamed (the old path is gone): the state follows the job file, and the copy is refused naming the new path.
    const renamed = join(dir, 'blog-notes.yaml');
    renameSync(job, renamed);
    const moved = await runCli(['run', renamed, '--yes']);
    expect(moved.stderr).toMatch(/Nothing to do/);
    expect(moved.code).toBe(0);
    const refused = await runCli(['run', copy, '--yes']);
    expect(refused.stderr).toMatch(/job-v2\.yaml and \S*blog-notes\.yaml both use the state file/);
    expect(refused.code).toBe(2);

    // With a state file of its own, the copy is a job of its own.
    writeFileSync(join(dir, 'job-v3.yaml'), `${readFileSync(copy, 'utf8')}state: .genbatch/essays.db\n`);
    const own = await runCli(['run', join(dir, 'job-v3.yaml'), '--yes']);
    expect(own.code).toBe(0);
    expect(emulator.log().length).toBe(calls + 6);
  });
});
