import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { stateCounts } from '../helpers/emulated-job.js';
import { redisServerInstalled, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { writeSharedCredentials, writeSharedJob } from '../helpers/shared-jobs.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

let redis: TestRedis | undefined;
beforeAll(async () => {
  if (redisServerInstalled) redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const WINDOW_MS = 6000;

interface StatusJson {
  shared_runs: { job: string; run_id: string; pid: number; projects: string[] }[] | null;
}

/**
 * Run A hits the project's wall (3 requests per 6 s, no limits declared) and cools it down; run B,
 * another job on the same credentials file, starts while A cools down. B must send nothing to the
 * project until A's cooldown ends: the emulator's arrival log shows a quiet project after the 429.
 */
async function coolsTheOther(options: { coordination?: string; sharedDirs: [string, string] }): Promise<void> {
  emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 10, projects: { cool: { requests: 3, window: WINDOW_MS } } }), { port: 0 });
  const dir = tempDir();
  writeSharedCredentials(dir, emulator.url, { projects: ['cool'], ...(options.coordination ? { top: `coordination: ${options.coordination}\n` } : {}) });
  // A: three calls fit the window, the fourth hits the wall. After the cooldown A's fourth and B's one call fit again.
  const jobA = writeSharedJob(dir, 'job-a', { items: 4, limits: '{ concurrency: 1, max_attempts: 5, max_stall: 60s }' });
  const jobB = writeSharedJob(dir, 'job-b', { items: 1, limits: '{ concurrency: 1, max_attempts: 5, max_stall: 60s }' });

  const a = spawnCli(['run', jobA, '--yes', '--plain'], { env: { GENBATCH_SHARED_DIR: options.sharedDirs[0] } });
  const running = emulator;
  await waitUntil(() => running.log().some((r) => r.status === 429), 20_000);
  const wall = running.log().find((r) => r.status === 429)?.at ?? 0;
  const b = spawnCli(['run', jobB, '--yes', '--plain'], { env: { GENBATCH_SHARED_DIR: options.sharedDirs[1] } });

  // While B waits, `status` of A names B as another run on its project.
  let others: NonNullable<StatusJson['shared_runs']> = [];
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && b.exitCode === null && !others.some((r) => r.job === 'job-b')) {
    const status = await runCli(['status', jobA, '--json'], { env: { GENBATCH_SHARED_DIR: options.sharedDirs[0] } });
    others = (JSON.parse(status.stdout) as StatusJson).shared_runs ?? [];
  }
  expect(others).toEqual(expect.arrayContaining([expect.objectContaining({ job: 'job-b', projects: ['cool'], pid: b.pid })]));

  const [ra, rb] = await Promise.all([a.output, b.output]);
  expect(ra.code, ra.stderr.slice(-800)).toBe(0);
  expect(rb.code, rb.stderr.slice(-800)).toBe(0);
  expect(stateCounts(join(dir, 'job-a', '.genbatch', 'job-a.db'))).toEqual({ done: 4 });
  expect(stateCounts(join(dir, 'job-b', '.genbatch', 'job-b.db'))).toEqual({ done: 1 });

  const log = running.log();
  const firstOk = log.find((r) => r.status === 200)?.at ?? 0;
  // The window frees when its first accepted call leaves it: the cooldown A was told to keep.
  const back = firstOk + WINDOW_MS;
  const during = log.filter((r) => r.at > wall + 50 && r.at < back - 50);
  console.log(
    `shared cooldown${options.coordination ? ' (redis)' : ''}: 429 at +0 ms, quota back at +${back - wall} ms; ${during.length} arrival(s) in between; ${log.filter((r) => r.status === 429).length} 429s in all`,
  );
  expect(during).toEqual([]);
  // Only A met the wall; B's first call (its probe, when the cooldown ended) was let through.
  expect(log.filter((r) => r.status === 429)).toHaveLength(1);
  expect(log.filter((r) => r.status === 200)).toHaveLength(5);
}

describe('shared cooldown: a 429 seen by one run cools the project for the others', () => {
  it('one host: a run started during another run’s cooldown sends nothing until it ends', { timeout: 90_000 }, async () => {
    const shared = tempDir();
    await coolsTheOther({ sharedDirs: [shared, shared] });
  });

  it.skipIf(!redisServerInstalled)(
    'Redis (skipped when redis-server is not installed): the same from another shared folder, as on another host',
    { timeout: 90_000 },
    async () => {
      await coolsTheOther({ coordination: redis?.url ?? '', sharedDirs: [tempDir(), tempDir()] });
    },
  );
});
