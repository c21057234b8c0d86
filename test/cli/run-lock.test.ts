import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { stepStates } from '../helpers/state-file.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('one active run per job', () => {
  it('a second concurrent run exits 5 naming the holder; a lock left by a killed run is taken over', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 150 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const job = writeJob(dir, { items: 40, steps: BRIEF_STEP, limits: '{ concurrency: 2 }' });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const first = spawnCli(['run', job, '--yes']);
    const deadline = Date.now() + 20_000;
    while ((stepStates(stateFile).done ?? 0) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    const second = await runCli(['run', job, '--yes']);
    expect(second.code).toBe(5);
    expect(second.stderr).toMatch(new RegExp(`Another run of quota-job is active: pid ${first.pid} on \\S+, last heartbeat`));

    first.kill('SIGKILL');
    await first.output;
    const third = await runCli(['resume', job, '--yes']);
    expect(third.stderr).toMatch(new RegExp(`Took over the lock left by a run that is gone \\(pid ${first.pid}`));
    expect(third.code).toBe(0);
    expect(stepStates(stateFile)).toEqual({ done: 40 });
  });
});
