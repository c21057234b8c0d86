import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli, interruptTwice } from '../helpers/cli.js';
import { posts, writeJobFixture, writePostsCsv } from '../helpers/job-fixture.js';
import { stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

/** What a person reads after a resume, a kill -9 and a double Ctrl-C (issue 27, point 10). */

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

/** The `progress: DONE/TOTAL steps` lines of a run's plain output. */
function progressLines(stderr: string): { done: number; total: number }[] {
  return [...stderr.matchAll(/progress: (\d+)\/(\d+) steps/g)].map((m) => ({ done: Number(m[1]), total: Number(m[2]) }));
}

describe('resume feedback', () => {
  it('the progress total after a resume counts the steps left, not items × steps: the last line reads N/N', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 3, latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: emulator.url, items: 6, concurrency: 2 });
    // The budget stops the first run with the briefs of most items done and only two images ($0.039 each).
    const first = await runCli(['run', job, '--yes', '--plain', '--budget', '0.10']);
    expect(first.code, first.stderr.slice(-800)).toBe(3);
    const states = stepStates(join(dir, '.genbatch', 'test-job.db'));
    expect(states.done ?? 0).toBeGreaterThan(2);

    const resumed = await runCli(['resume', job, '--yes', '--plain']);
    expect(resumed.code, resumed.stderr.slice(-800)).toBe(0);
    const lines = progressLines(resumed.stderr);
    const left = 12 - (states.done ?? 0);
    expect(lines.at(-1)).toEqual({ done: left, total: left });
    for (const l of lines) expect(l.total).toBe(left);
  });

  it('a filtered step ends its item: its later steps leave the total, so a finished run reads N/N', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 3, latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    // A title with the emulator's blocked term: the brief of that item is filtered, its image never asked for.
    const job = writeJobFixture(dir, { endpoint: emulator.url, items: 4, concurrency: 2 });
    writePostsCsv(
      join(dir, 'posts.csv'),
      posts(4).map((p, i) => (i === 1 ? { ...p, title: `${p.title} [unsafe]` } : p)),
    );
    const run = await runCli(['run', job, '--yes', '--plain']);
    expect(run.code, run.stderr.slice(-800)).toBe(0);
    expect(progressLines(run.stderr).at(-1)).toEqual({ done: 7, total: 7 });
  });

  it('after kill -9, status says the run was killed (its pid is gone) and ends with the command that continues', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 300 }), { port: 0 });
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: emulator.url, items: 30, concurrency: 3, imageStep: false });
    const stateFile = join(dir, '.genbatch', 'test-job.db');
    const child = spawnCli(['run', job, '--yes']);
    await waitUntil(() => (stepStates(stateFile).done ?? 0) >= 3);
    child.kill('SIGKILL');
    const killed = await child.output;
    expect(killed.signal).toBe('SIGKILL');

    const status = await runCli(['status', job]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`Last run \\S+: started \\S+, killed \\(pid ${child.pid} is gone\\)`));
    expect(status.stdout).not.toContain('still running or killed');
    expect(status.stdout.trimEnd().split('\n').at(-1)).toBe(`To continue: genbatch resume ${job}`);

    // And once everything is done there is nothing to continue: no such line.
    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code).toBe(0);
    const done = await runCli(['status', job]);
    expect(done.stdout).not.toContain('genbatch resume');
    expect(done.stdout).toMatch(/finished \(exit 0\)/);
  });

  it('a double Ctrl-C is recorded as cancelled (exit 4) in the run row, as status shows it', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 2000 }), { port: 0 });
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: emulator.url, items: 6, concurrency: 3, imageStep: false });
    const stateFile = join(dir, '.genbatch', 'test-job.db');
    const child = spawnCli(['run', job, '--yes']);
    await waitUntil(() => (stepStates(stateFile).running ?? 0) >= 3);
    await interruptTwice(child);
    const result = await child.output;
    expect(result.code).toBe(4);

    const status = await runCli(['status', job, '--json']);
    const json = JSON.parse(status.stdout) as { last_run: { outcome: string | null; exit_code: number | null; ended_at: string | null } };
    expect(json.last_run).toMatchObject({ outcome: 'cancelled', exit_code: 4 });
    expect(json.last_run.ended_at).not.toBeNull();
    const text = await runCli(['status', job]);
    expect(text.stdout).toMatch(/ended \S+, cancelled \(exit 4\)/);
    expect(text.stdout.trimEnd().split('\n').at(-1)).toBe(`To continue: genbatch resume ${job}`);

    // The next run still recovers the steps that were in flight.
    emulator.setConfig(parseEmulatorConfig({ latency_ms: 0 }));
    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.stderr).toMatch(/Recovered 3 step\(s\) left running by a run that died/);
    expect(resumed.code).toBe(0);
    expect(stepStates(stateFile)).toEqual({ done: 6 });
  });
});
