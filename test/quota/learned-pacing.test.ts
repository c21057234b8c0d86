import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const RATE = 8; // requests per second and project (a per-minute quota, time-scaled)
const PROJECTS = ['learn-a', 'learn-b'];
const ITEMS = 120;

describe('learned pacing of a fixed quota nobody declared', () => {
  // How near the quota's pace it runs is measured by `npm run bench learned-pacing`.
  it("learns each project's limit from its first 429s and then keeps under it: no 429 wave after the first", async () => {
    emulator = await startEmulator(
      parseEmulatorConfig({
        seed: 8,
        latency_ms: { min: 5, max: 15 },
        projects: Object.fromEntries(PROJECTS.map((p) => [p, { requests: RATE, window: '1s' }])),
      }),
      { port: 0 },
    );
    const dir = tempDir();
    // No `quotas:`: the per-project quota's 429 names its metric, so the limit is learned.
    writeCredentials(
      join(dir, 'credentials.yaml'),
      emulator.url,
      PROJECTS.map((name) => ({ name })),
    );
    const job = writeJob(dir, { items: ITEMS, steps: BRIEF_STEP, limits: '{ concurrency: 8, max_attempts: 5 }' });
    const run = await runCli(['run', job, '--json', '--yes', '--no-cache']);
    expect(run.code).toBe(0);
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: ITEMS });

    const log = emulator.log();
    const start = log[0]?.at ?? 0;
    for (const project of PROJECTS) {
      const refused = log.filter((r) => r.project === project && r.status === 429).map((r) => r.at - start);
      // The first wave: the calls on the wire when the first 429 came (unpaced until then).
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.filter((at) => at < 1_000).length).toBeLessThanOrEqual(8);
      // Then paced at the learned limit: a probe's 429 (one more call per window, after 8 quiet
      // windows), and on a busy host a 429 of arrival jitter now and then. (AIMD on the pace, before,
      // met the limit again every few windows: 14% of all calls.)
      expect(refused.filter((at) => at >= 1_000).length).toBeLessThanOrEqual(3);
    }
  });
});
