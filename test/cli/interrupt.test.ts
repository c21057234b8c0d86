import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli, interruptTwice } from '../helpers/cli.js';
import { writeJobFixture } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';
import { stepStates } from '../helpers/state-file.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('Ctrl-C', () => {
  it('once: stops taking items, lets calls in flight finish, exits 4, and a resume completes', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 300 }), { port: 0 });
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: emulator.url, items: 30, concurrency: 3, imageStep: false });
    const stateFile = join(dir, '.genbatch', 'test-job.db');
    const child = spawnCli(['run', job]);
    await waitUntil(() => (stepStates(stateFile).done ?? 0) >= 3);
    child.kill('SIGINT');
    const result = await child.output;
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/Stopping: no new items; waiting for the calls in flight/);
    expect(result.stderr).toMatch(/ended: cancelled \(exit 4\)/);
    const after = stepStates(stateFile);
    // The calls in flight were checkpointed, not abandoned.
    expect(after.running ?? 0).toBe(0);
    expect(after.done).toBeLessThan(30);
    const resumed = await runCli(['resume', job]);
    expect(resumed.code).toBe(0);
    expect(stepStates(stateFile)).toEqual({ done: 30 });
  });

  it('twice: exits at once; the steps in flight are redone by the next run', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 2000 }), { port: 0 });
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: emulator.url, items: 6, concurrency: 3, imageStep: false });
    const stateFile = join(dir, '.genbatch', 'test-job.db');
    const child = spawnCli(['run', job]);
    await waitUntil(() => (stepStates(stateFile).running ?? 0) >= 3);
    await interruptTwice(child);
    const result = await child.output;
    expect(result.code).toBe(4);
    // It did not wait for the 2 s calls: they are still running in the state file.
    expect(stepStates(stateFile).running).toBe(3);
    emulator.setConfig(parseEmulatorConfig({ latency_ms: 0 }));
    const resumed = await runCli(['resume', job]);
    expect(resumed.stderr).toMatch(/Recovered 3 step\(s\) left running by a run that died/);
    expect(resumed.code).toBe(0);
    expect(stepStates(stateFile)).toEqual({ done: 6 });
  });
});
