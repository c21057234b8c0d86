import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls } from '../helpers/billed.js';
import { faketimeInstalled, runCli, spawnCli } from '../helpers/cli.js';
import { ONE_CALL_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe.skipIf(!faketimeInstalled)('a paused run keeps its lock (skipped without faketime)', () => {
  it('a run stopped with SIGSTOP is not taken over by a second run, even one whose clock is 2 h ahead; resumed, it finishes and nothing is paid twice', async () => {
    const items = 24;
    emulator = await startEmulator(parseEmulatorConfig({ seed: 12, latency_ms: { min: 150, max: 250 } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1' }]);
    const job = writeJob(dir, { items, steps: ONE_CALL_STEP, limits: '{ concurrency: 2, max_attempts: 2 }' });
    const env = { GENBATCH_SHARED_DIR: join(dir, 'shared') };

    const first = spawnCli(['run', job, '--yes', '--plain', '--no-cache'], { env });
    while (billedCalls(emulator) < 4) await new Promise((resolve) => setTimeout(resolve, 20));
    first.kill('SIGSTOP');
    try {
      // A second run on a host whose clock is 2 h ahead: the heartbeat looks 2 h old.
      const second = await runCli(['run', job, '--yes', '--plain', '--no-cache'], { env, clock: '+2h' });
      expect(second.code, second.stderr.slice(-600)).toBe(5);
      expect(second.stderr).toContain(`Another run of quota-job is active: pid ${first.pid}`);
      expect(second.stderr).toMatch(/the process is alive: it may be stopped .*kill -CONT \d+/);
      expect(second.stderr).not.toMatch(/Took over/);
    } finally {
      first.kill('SIGCONT');
    }
    const result = await first.output;
    expect(result.code, result.stderr.slice(-600)).toBe(0);
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: items });
    // Every item paid once.
    expect(billedCalls(emulator)).toBe(items);
  });
});
