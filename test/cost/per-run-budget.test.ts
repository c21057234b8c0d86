import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls } from '../helpers/billed.js';
import { runCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Two caps, each named for what it caps (issue 27 point 8): `budget.max_usd` over all runs of the
 * job, `budget.per_run_usd` (or `--budget`) over one run. Images cost $0.039 each.
 */

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const HERO_ONLY = `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "A hero image for {{title}}"
    output: { file: "images/{{slug}}.png" }
`;

describe('per-run and lifetime budgets', () => {
  it('--budget caps each run: every night gets its own $0.10 (2 images), and the message says this run spent it', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 6, latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    const job = writeJob(dir, { items: 5, steps: HERO_ONLY, limits: '{ concurrency: 1 }' });
    const first = await runCli(['run', job, '--yes', '--plain', '--budget', '0.10']);
    expect(first.code, first.stderr.slice(-800)).toBe(3);
    expect(first.stderr).toMatch(
      /Stopped by the budget cap: the next call could cost up to \$0\.03\d+, which could cross the per-run cap of \$0\.10 \(budget\.per_run_usd or --budget; this run spent \$0\.07\d+\)/,
    );
    expect(billedCalls(emulator)).toBe(2);

    const second = await runCli(['resume', job, '--yes', '--plain', '--budget', '0.10']);
    expect(second.code, second.stderr.slice(-800)).toBe(3);
    expect(second.stderr).toMatch(/this run spent \$0\.07\d+\)/);
    expect(billedCalls(emulator)).toBe(4);
  });

  it('budget.per_run_usd in the job file caps each run; budget.max_usd caps all runs together and says so', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 6, latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    const job = writeJob(dir, { items: 8, steps: HERO_ONLY, limits: '{ concurrency: 1 }', extra: 'budget: { max_usd: 0.20, per_run_usd: 0.10 }\n' });
    expect((await runCli(['run', job, '--yes', '--plain'])).code).toBe(3);
    expect((await runCli(['run', job, '--yes', '--plain'])).code).toBe(3);
    expect(billedCalls(emulator)).toBe(4);
    // $0.1548 spent by the two runs: one more image ($0.0387) fits under $0.20, then the lifetime cap stops the third run.
    const third = await runCli(['run', job, '--yes', '--plain']);
    expect(third.code, third.stderr.slice(-800)).toBe(3);
    expect(billedCalls(emulator)).toBe(5);
    expect(third.stderr).toMatch(
      /which could cross the job's budget\.max_usd of \$0\.20 over all its runs \(spent by all runs \$0\.19\d+, this run spent \$0\.03\d+\)/,
    );
    expect(third.stderr).toMatch(/hint: Raise budget\.max_usd in the job file \(the cap over all runs of the job\)/);
  });
});
