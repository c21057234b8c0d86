import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls, billedUsd } from '../helpers/billed.js';
import { stopOutsideCommit } from '../helpers/state-file.js';
import { BIN, faketimeInstalled, REPO, spawnCli, type CliResult } from '../helpers/cli.js';
import { ONE_CALL_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

/** Whether this machine can give a process a host name of its own (a UTS namespace: root, or unprivileged namespaces). */
const ownHostName = spawnSync('unshare', ['-u', 'sh', '-c', 'hostname genbatch-other-host'], { stdio: 'ignore' }).status === 0;

/** The CLI on "another host": its own host name (a UTS namespace) and a clock 2 h ahead (libfaketime). */
function runOnOtherHost(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const script = `hostname genbatch-other-host && exec faketime -f +2h "${process.execPath}" "${BIN}" ${args.map((a) => `"${a}"`).join(' ')}`;
  const child = spawn('unshare', ['-u', 'sh', '-c', script], { cwd: REPO, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

describe.skipIf(!faketimeInstalled || !ownHostName)('a run that lost its lock writes nothing (skipped without faketime or UTS namespaces)', () => {
  it('paused with SIGSTOP, its lock taken over by a run on another host: woken, it writes no state and stops (exit 75); the ledger is never below what was billed', async () => {
    const items = 20;
    emulator = await startEmulator(parseEmulatorConfig({ seed: 13, latency_ms: { min: 300, max: 400 } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1' }]);
    const job = writeJob(dir, { items, steps: ONE_CALL_STEP, limits: '{ concurrency: 2, max_attempts: 2 }' });
    const env = { GENBATCH_SHARED_DIR: join(dir, 'shared') };

    const paused = spawnCli(['run', job, '--yes', '--plain', '--no-cache'], { env });
    while (billedCalls(emulator) < 4) await new Promise((resolve) => setTimeout(resolve, 20));
    // Paused mid-call (calls in flight); to the other host its heartbeat looks 2 h old.
    await stopOutsideCommit(paused, join(dir, '.genbatch', 'quota-job.db'));
    let other: CliResult;
    try {
      other = await runOnOtherHost(['run', job, '--yes', '--plain', '--no-cache'], env);
    } finally {
      paused.kill('SIGCONT');
    }
    expect(other.code, other.stderr.slice(-600)).toBe(0);
    expect(other.stderr).toContain('Took over the lock of a run on');
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const db = new Database(stateFile, { readonly: true });
    const rowsBefore = (db.prepare('SELECT count(*) AS n FROM ledger').get() as { n: number }).n;
    db.close();

    const woken = await paused.output;
    expect(woken.code, woken.stderr.slice(-800)).toBe(75);
    // The other run has finished (and let the lock go) by then: no run holds it now.
    expect(woken.stderr).toMatch(/This run lost the lock of its state file \S+quota-job\.db while it was paused or cut off: it stops and writes nothing more/);
    expect(woken.stderr).not.toMatch(/genbatch crashed/);

    // The woken run wrote nothing more: the ledger is as the other run left it, and every item is done once.
    const after = new Database(stateFile, { readonly: true });
    const rowsAfter = (after.prepare('SELECT count(*) AS n FROM ledger').get() as { n: number }).n;
    const ledgerUsd = (
      after.prepare('SELECT coalesce(sum(CASE WHEN settled = 1 THEN cost_usd ELSE reserved_usd END), 0) AS usd FROM ledger').get() as { usd: number }
    ).usd;
    after.close();
    expect(rowsAfter).toBe(rowsBefore);
    expect(stateCounts(stateFile)).toEqual({ done: items });
    // At most the calls in flight at the pause were paid twice; each is in the ledger (settled, or at its worst case).
    expect(billedCalls(emulator)).toBeLessThanOrEqual(items + 2);
    expect(ledgerUsd).toBeGreaterThanOrEqual(billedUsd(emulator) - 1e-9);
  });
});
