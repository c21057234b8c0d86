import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls, billedUsd } from '../helpers/billed.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Issue 12, parts 2 and 3: intent before spend (a call's ledger row, at its worst case, is committed
 * before the call is sent and settled when the reply arrives; a call whose outcome is unknown counts
 * at its worst case), and concurrency that fits the money left.
 */
const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

interface Status {
  cost_usd: number;
  unsettled_max_usd: number;
  unsettled_calls: number;
  requests: number;
  counts: Record<string, number>;
}
const status = async (job: string): Promise<Status> => JSON.parse((await runCli(['status', job, '--json'])).stdout) as Status;

/** The brief without thinking: a small worst case ($0.0005), so a few kills do not use up the cap. */
const BRIEF_NO_THINKING = `${BRIEF_STEP}    params: { thinking_budget: 0 }
`;

const HERO_ONLY = `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "A hero image for {{title}}"
    output: { file: "images/{{slug}}.png" }
`;

describe('intent before spend: the ledger never under-states, the cap holds under every fault', () => {
  it('a kill -9 loop: after every kill, settled + unsettled-at-most covers what the emulator billed, and the cap holds', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 3, latency_ms: { min: 150, max: 400 } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }, { name: 'b' }]);
    const cap = 0.05;
    const job = writeJob(dir, { items: 400, steps: BRIEF_NO_THINKING, limits: '{ concurrency: 8 }', extra: `budget: { max_usd: ${cap} }\n` });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');

    let lastDone = 0;
    for (let kill = 0; kill < 5; kill++) {
      const child = spawnCli(['run', job, '--yes']);
      // Killed with calls in flight, a few completions after it started sending.
      await waitUntil(() => (stepStates(stateFile).done ?? 0) >= lastDone + 6);
      child.kill('SIGKILL');
      expect((await child.output).signal).toBe('SIGKILL');
      lastDone = stepStates(stateFile).done ?? 0;
      // The killed calls are still answered and billed by the emulator: wait for their bills.
      await emulator.idle();
      const s = await status(job);
      const billed = billedUsd(emulator);
      expect(
        s.cost_usd + s.unsettled_max_usd,
        `after kill ${kill + 1}: ledger ${s.cost_usd} + ${s.unsettled_max_usd} vs billed ${billed}`,
      ).toBeGreaterThanOrEqual(billed - 1e-9);
      expect(s.unsettled_calls).toBeGreaterThan(0);
    }
    const final = await runCli(['resume', job, '--yes']);
    expect(final.code, final.stderr).toBe(3);
    expect(final.stderr).toMatch(/Stopped by the budget cap/);
    await emulator.idle();
    const billed = billedUsd(emulator);
    const s = await status(job);
    console.log(
      `kill -9 loop: billed $${billed.toFixed(5)} over ${billedCalls(emulator)} calls under a $${cap} cap; ledger $${s.cost_usd} settled + at most $${s.unsettled_max_usd} unknown (${s.unsettled_calls} calls)`,
    );
    expect(billed).toBeLessThanOrEqual(cap);
    expect(s.cost_usd + s.unsettled_max_usd).toBeGreaterThanOrEqual(billed - 1e-9);
    expect(s.cost_usd + s.unsettled_max_usd).toBeLessThanOrEqual(cap + 1e-9);
    // `status` says it in words too.
    expect((await runCli(['status', job])).stdout).toMatch(/\+ unknown, at most \$[\d.]+: \d+ call\(s\) whose outcome is unknown/);
  });

  it('timeouts: calls cut off after sending count at their worst case, so the cap holds though the emulator bills them', async () => {
    // Every reply takes 1.6 s; the client gives up after 1 s. The emulator bills each call all the same.
    emulator = await startEmulator(parseEmulatorConfig({ seed: 4, latency_ms: { min: 1600, max: 1600 } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    const cap = 0.01;
    const job = writeJob(dir, {
      items: 50,
      steps: BRIEF_STEP,
      limits: '{ concurrency: 4, timeout: 1s, max_attempts: 10 }',
      extra: `budget: { max_usd: ${cap} }\n`,
    });
    const run = await runCli(['run', job, '--yes']);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/Stopped by the budget cap/);
    expect(run.stderr).toMatch(/Plus at most \$[\d.]+ for \d+ call\(s\) whose outcome is unknown/);
    await emulator.idle(); // the last calls' bills (cut off by the client, still answered)
    const billed = billedUsd(emulator);
    const s = await status(job);
    console.log(
      `timeouts: billed $${billed.toFixed(5)} over ${billedCalls(emulator)} calls; ledger $${s.cost_usd} + at most $${s.unsettled_max_usd} (${s.unsettled_calls} unknown)`,
    );
    expect(billedCalls(emulator)).toBeGreaterThan(0);
    expect(s.cost_usd).toBe(0);
    expect(s.unsettled_calls).toBe(billedCalls(emulator));
    expect(billed).toBeLessThanOrEqual(cap);
    expect(s.unsettled_max_usd).toBeGreaterThanOrEqual(billed);
    expect(s.unsettled_max_usd).toBeLessThanOrEqual(cap + 1e-9);
    const cost = JSON.parse((await runCli(['cost', job, '--json'])).stdout) as { total_usd: number; unsettled_max_usd: number };
    expect(cost).toMatchObject({ total_usd: 0, unsettled_max_usd: s.unsettled_max_usd });
  });
});

describe('concurrency that fits the budget', () => {
  it('five images at $0.039 with --budget 0.10 and the default concurrency: 2 calls, then exit 3', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 6, latency_ms: { min: 50, max: 100 } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    const job = writeJob(dir, { items: 5, steps: HERO_ONLY, limits: '{}' });
    const run = await runCli(['run', job, '--yes', '--budget', '0.10']);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/Stopped by the budget cap: the next call could cost up to \$0\.03\d+/);
    expect(billedCalls(emulator)).toBe(2);
    const s = await status(job);
    expect(s.counts).toMatchObject({ done: 2, pending: 3 });
    expect(s.cost_usd).toBeLessThanOrEqual(0.1);
    expect(s.unsettled_calls).toBe(0);
  });
});
