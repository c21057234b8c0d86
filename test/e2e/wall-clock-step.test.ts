import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls, billedUsd, ledgerUsd } from '../helpers/billed.js';
import { BIN, faketimeInstalled, REPO, runCli, type CliResult } from '../helpers/cli.js';
import { ONE_CALL_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
const children = new Set<ChildProcess>();
afterEach(async () => {
  // A run that froze past the test's timeout is stopped with it.
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await emulator?.close();
  emulator = undefined;
});

/**
 * The CLI with its wall clock read from `offset` at every read (libfaketime; writing "+2h" there steps
 * it), the monotonic clock left real, as in an NTP step.
 */
function spawnOnSteppedClock(args: string[], dir: string, offset: string): ChildProcessByStdio<null, Readable, Readable> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: {
      ...process.env,
      NO_COLOR: '1',
      GENBATCH_SHARED_DIR: join(dir, 'shared'),
      LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
      FAKETIME_TIMESTAMP_FILE: offset,
      FAKETIME_NO_CACHE: '1',
      DONT_FAKE_MONOTONIC: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('close', () => children.delete(child));
  return child;
}

/** A run on a stepped clock: `step('+2h')` moves its wall clock; `stderr()` is what it has printed so far. */
function startSteppedRun(dir: string, job: string, extra: string[] = []) {
  // libfaketime reads the offset from this file at every clock read; the monotonic clock stays real, as in an NTP step.
  const offset = join(dir, 'faketime.txt');
  writeFileSync(offset, '+0\n');
  const child = spawnOnSteppedClock(['run', job, '--yes', '--plain', '--no-cache', ...extra], dir, offset);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { step: (to: string) => writeFileSync(offset, `${to}\n`), stderr: () => stderr, done };
}

describe.skipIf(!faketimeInstalled)('a wall-clock step mid-run (skipped without faketime)', () => {
  it('the wall clock jumps 2 h ahead mid-run (NTP, a resumed VM): the run’s duration and rates stay true', async () => {
    const items = 30;
    emulator = await startEmulator(parseEmulatorConfig({ seed: 21, latency_ms: { min: 80, max: 120 } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1' }]);
    const job = writeJob(dir, { items, steps: ONE_CALL_STEP, limits: '{ concurrency: 2, max_attempts: 2 }' });
    const run = startSteppedRun(dir, job, ['--json']);
    while (billedCalls(emulator) < 6) await new Promise((resolve) => setTimeout(resolve, 20));
    run.step('+2h');
    const result = await run.done;
    expect(result.code, result.stderr.slice(-600)).toBe(0);
    const { durationMs } = JSON.parse(result.stdout) as { durationMs: number };
    // The run took seconds, not 2 hours.
    expect(durationMs).toBeLessThan(60_000);
    expect(result.stderr).toMatch(/ended: finished \(exit 0\) in \d+(\.\d+)?s\./);
    expect(result.stderr).not.toMatch(/in 2h/);
  });

  it('status names the last run by run order: a run made on a clock 2 h ahead does not hide the one after it', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 22, latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1' }]);
    const job = writeJob(dir, { items: 6, steps: ONE_CALL_STEP, limits: '{ concurrency: 2, max_attempts: 2 }' });
    const env = { GENBATCH_SHARED_DIR: join(dir, 'shared') };
    const ahead = await runCli(['run', job, '--yes', '--plain', '--no-cache', '--limit', '3'], { env, clock: '+2h' });
    expect(ahead.code, ahead.stderr.slice(-400)).toBe(0);
    const now = await runCli(['run', job, '--yes', '--plain', '--no-cache'], { env });
    expect(now.code, now.stderr.slice(-400)).toBe(0);
    const runId = /Run (\S+): 3 of 6 items have work left/.exec(now.stderr)?.[1];
    expect(runId).toBeDefined();
    const status = JSON.parse((await runCli(['status', job, '--json'], { env })).stdout) as { last_run: { id: string } };
    expect(status.last_run.id).toBe(runId);
  });

  it('the wall clock jumps 2 h ahead while the project is out for the day: the stall comes after limits.max_stall of real time, not at once', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 23, latency_ms: 20 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1', quotas: '{ default: { rpd: 2 } }' }]);
    const job = writeJob(dir, { items: 4, steps: ONE_CALL_STEP, limits: '{ concurrency: 2, max_attempts: 2, max_stall: 4s }' });
    const run = startSteppedRun(dir, job);
    // The day's 2 requests are used: the project is out until the daily reset; then the wall clock jumps.
    while (billedCalls(emulator) < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const steppedAt = performance.now();
    run.step('+2h');
    const { code, stderr } = await run.done;
    const afterStep = performance.now() - steppedAt;
    expect(code, stderr.slice(-600)).toBe(75);
    // A real stall, measured in real time: about max_stall after it began, not "2h" at once.
    expect(stderr).toMatch(/no pending work could make progress for [3-9]s\./);
    expect(afterStep).toBeGreaterThan(2000);
  });

  it('the wall clock steps 10 min back mid-run under a declared rpm: starts keep their pace, nothing freezes for the step', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 24, latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1', quotas: '{ default: { rpm: 1200 } }' }]);
    const job = writeJob(dir, { items: 40, steps: ONE_CALL_STEP, limits: '{ concurrency: 4, max_attempts: 2, max_stall: 60s }' });
    const run = startSteppedRun(dir, job);
    while (billedCalls(emulator) < 6) await new Promise((resolve) => setTimeout(resolve, 20));
    const steppedAt = performance.now();
    run.step('-10m');
    const { code, stderr } = await run.done;
    expect(code, stderr.slice(-600)).toBe(0);
    expect(billedCalls(emulator)).toBe(40);
    // 34 starts at 20 per second: under two seconds of pacing, not the ten minutes of the step.
    expect(performance.now() - steppedAt).toBeLessThan(30_000);
    expect(ledgerUsd(join(dir, '.genbatch', 'quota-job.db'))).toBeGreaterThanOrEqual(billedUsd(emulator) - 1e-9);
  });

  it('the wall clock steps 10 min back while a project cools down after a 429: the cooldown lasts its own seconds', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 25, latency_ms: 5, projects: { p1: { requests: 4, window: '1s' } } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1' }]);
    const job = writeJob(dir, { items: 12, steps: ONE_CALL_STEP, limits: '{ concurrency: 4, max_attempts: 6, max_stall: 60s }' });
    const run = startSteppedRun(dir, job);
    // The window's 4 calls are made and the next is refused: p1 cools down for the window's rest.
    while (!run.stderr().includes('quota: project p1 cools down')) await new Promise((resolve) => setTimeout(resolve, 10));
    const steppedAt = performance.now();
    run.step('-10m');
    const { code, stderr } = await run.done;
    expect(code, stderr.slice(-600)).toBe(0);
    expect(billedCalls(emulator)).toBe(12);
    expect(performance.now() - steppedAt).toBeLessThan(30_000);
    expect(ledgerUsd(join(dir, '.genbatch', 'quota-job.db'))).toBeGreaterThanOrEqual(billedUsd(emulator) - 1e-9);
  });
});
