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

interface Status {
  counts: Record<string, number>;
  failures: { id: string; error: string; message: string }[];
  projects: { name: string; requests: number; ok: number; errors: number }[];
}
const statusOf = async (job: string): Promise<Status> => JSON.parse((await runCli(['status', job, '--json'])).stdout) as Status;

describe('errors, classified in one table', () => {
  it('a 400 is never retried: one call per item, failed with the reason', async () => {
    emulator = await startEmulator(parseEmulatorConfig({}), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    // An Imagen model asked for generateContent: Vertex answers 400 INVALID_ARGUMENT.
    const step = BRIEF_STEP.replace('model: gemini-2.5-flash', 'model: imagen-4.0-generate-001').replace('    json: { image_prompt: string }\n', '');
    const job = writeJob(dir, { items: 5, steps: step, limits: '{ concurrency: 2, max_attempts: 4 }' });
    const run = await runCli(['run', job]);
    expect(run.code).toBe(1);
    expect(emulator.log()).toHaveLength(5);
    expect(emulator.log().every((r) => r.status === 400 || r.status === 200)).toBe(true);
    const status = await statusOf(job);
    expect(status.counts.failed).toBe(5);
    expect(status.failures[0]).toMatchObject({ error: 'INVALID_REQUEST' });
    expect(status.failures[0]?.message).toMatch(/does not support the generateContent method/);
  });

  it('a 503 is retried with backoff, at most max_attempts times', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ fail_rate_503: 1 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const job = writeJob(dir, { items: 2, steps: BRIEF_STEP, limits: '{ concurrency: 2, max_attempts: 3 }' });
    const run = await runCli(['run', job]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/retry: item .* \(TRANSIENT\), attempt 1/);
    const log = emulator.log();
    expect(log).toHaveLength(6); // 2 items x 3 attempts
    expect(log.every((r) => r.status === 503)).toBe(true);
    // Backoff: attempts of one item are spaced by at least half the base delay (full jitter on 1 s, 2 s).
    const times = log.map((r) => r.at).sort((a, b) => a - b);
    expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(1400);
    const status = await statusOf(job);
    expect(status.failures.map((f) => f.message)).toEqual([
      expect.stringMatching(/gave up after 3 attempts/),
      expect.stringMatching(/gave up after 3 attempts/),
    ]);
  });

  it('a 403 disables only that project; the others finish the job', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ projects: { revoked: { deny: true } } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'revoked' }, { name: 'healthy' }]);
    const job = writeJob(dir, { items: 20, steps: BRIEF_STEP, limits: '{ concurrency: 3, max_attempts: 2 }' });
    const run = await runCli(['run', job]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/disabled: project revoked for this run/);
    expect(run.stderr).not.toMatch(/secret-key/);
    const denied = emulator.log().filter((r) => r.project === 'revoked');
    expect(denied.length).toBeGreaterThanOrEqual(1);
    expect(denied.length).toBeLessThanOrEqual(3); // only calls already in flight
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: 20 });
  });
});
