import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls } from '../helpers/billed.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Issue 13, point 7: a short outage of the endpoint. Before: the endpoint was down for 14 s and
 * `concurrency` items failed, exit 1. Now the project waits and probes; only limits.max_outage
 * turns an outage into a stall (exit 75), which a resume continues.
 */
const tempDir = useTempDir();
const running: RunningEmulator[] = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.close();
});

// Room for the longest emulated reply: half of max_output_tokens goes to thinking (docs/thinking.md).
const NOTE_STEP = `  - name: note
    task: text
    model: gemini-2.5-flash
    prompt: "A note about {{title}}"
    max_output_tokens: 2000
`;

const config = parseEmulatorConfig({ seed: 9, latency_ms: { min: 20, max: 60 } });
const port = (e: RunningEmulator): number => Number(new URL(e.url).port);

describe('an unreachable endpoint is an outage, not a failure of the items', () => {
  it('the endpoint goes away for 5 s mid-run: no item fails, the run finishes (exit 0)', async () => {
    const first = await startEmulator(config, { port: 0 });
    running.push(first);
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), first.url, [{ name: 'a' }]);
    const items = 80;
    const job = writeJob(dir, { items, steps: NOTE_STEP, limits: '{ concurrency: 4, max_attempts: 2 }' });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const child = spawnCli(['run', job, '--yes']);
    await waitUntil(() => (stepStates(stateFile).done ?? 0) >= 10);
    const before = billedCalls(first);
    await first.close();
    running.splice(0);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const second = await startEmulator(config, { port: port(first) });
    running.push(second);
    const result = await child.output;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/unreachable/);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { counts: Record<string, number> };
    expect(status.counts).toMatchObject({ done: items, failed: 0 });
    expect(before + billedCalls(second)).toBeGreaterThanOrEqual(items);
  });

  it('an outage longer than limits.max_outage stalls the run (exit 75); a resume once it is back finishes it', async () => {
    const first = await startEmulator(config, { port: 0 });
    running.push(first);
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), first.url, [{ name: 'a' }]);
    const items = 40;
    const job = writeJob(dir, { items, steps: NOTE_STEP, limits: '{ concurrency: 4, max_outage: 3s }' });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const child = spawnCli(['run', job, '--yes']);
    await waitUntil(() => (stepStates(stateFile).done ?? 0) >= 5);
    await first.close();
    running.splice(0);
    // It stalls (a run that kept waiting would meet the test's timeout).
    const stalled = await child.output;
    expect(stalled.code, stalled.stderr).toBe(75);
    expect(stalled.stderr).toMatch(/Stalled on an outage \(limits\.max_outage\): no call could reach any project for \d+s/);
    expect(stalled.stderr).toMatch(/endpoint is unreachable|ECONNREFUSED/);
    const midway = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { counts: Record<string, number> };
    expect(midway.counts.failed).toBe(0);

    const second = await startEmulator(config, { port: port(first) });
    running.push(second);
    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { counts: Record<string, number> };
    expect(status.counts).toMatchObject({ done: items, failed: 0 });
  });
});
