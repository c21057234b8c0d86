import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls } from '../helpers/billed.js';
import { runCli } from '../helpers/cli.js';
import { ONE_CALL_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('requests per day (rpd)', () => {
  it('rpd: 30 allows 30 calls of the day on the project, each counted once; then the run stalls until the daily reset', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 30, latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1', quotas: '{ default: { rpd: 30 } }' }]);
    const job = writeJob(dir, { items: 40, steps: ONE_CALL_STEP, limits: '{ concurrency: 4, max_attempts: 2, max_stall: 2s }' });
    const run = await runCli(['run', job, '--yes', '--plain', '--no-cache'], { env: { GENBATCH_SHARED_DIR: join(dir, 'shared') } });
    expect(run.code, run.stderr.slice(-600)).toBe(75);
    expect(run.stderr).toContain('every project is out of its daily quota');
    expect(billedCalls(emulator)).toBe(30);
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: 30, pending: 10 });
  });
});
