import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls, billedUsd } from '../helpers/billed.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * A 200 whose HTTP body is cut off (the emulator's `cut_body_rate`): Vertex billed the reply, but
 * its usage cannot be read. It is booked at the call's worst case, as a timeout is, and retried; the
 * ledger (settled plus unknown at most) is never below what the emulator billed.
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
}

describe('a 200 reply whose body is cut off', () => {
  it('is booked at its worst case and retried; the ledger covers what the emulator billed', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 9, latency_ms: 0, cut_body_rate: 0.3 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1' }]);
    const job = writeJob(dir, { items: 20, steps: `${BRIEF_STEP}    params: { thinking_budget: 0 }\n`, limits: '{ concurrency: 4, max_attempts: 8 }' });
    const state = join(dir, '.genbatch', 'quota-job.db');

    const result = await runCli(['run', job, '--yes', '--plain']);
    expect(result.code, result.stderr).toBe(0);
    expect(stepStates(state)).toEqual({ done: 20 });
    // Each cut reply was retried, saying why.
    expect(result.stderr).toMatch(/retry: item "[^"]+" step brief on p1 \(REPLY_UNREADABLE\)/);
    const cut = readStateFile(state, (db) => db.prepare("SELECT count(*) FROM ledger WHERE error_code = 'REPLY_UNREADABLE'").pluck().get() as number);
    expect(cut).toBeGreaterThan(0);
    expect(billedCalls(emulator)).toBe(20 + cut);

    const s = JSON.parse((await runCli(['status', job, '--json'])).stdout) as Status;
    const billed = billedUsd(emulator);
    console.log(
      `cut bodies: ${cut} of ${billedCalls(emulator)} billed calls; emulator billed $${billed.toFixed(6)}; ledger $${s.cost_usd} settled + at most $${s.unsettled_max_usd} (${s.unsettled_calls} unreadable)`,
    );
    expect(s.unsettled_calls).toBe(cut);
    expect(s.cost_usd + s.unsettled_max_usd).toBeGreaterThanOrEqual(billed - 1e-6);
  }, 60_000);
});
