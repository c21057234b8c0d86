import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, IMAGE_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const RATE = 10; // requests per second, per project and model (the source's 10/minute, time-scaled)
const PER_MODEL = (rate: number) => ({ 'gemini-2.5-flash': { requests: rate, window: '1s' }, 'gemini-2.5-flash-image': { requests: rate, window: '1s' } });

describe("the source's quota wall, time-scaled", () => {
  // How near the quota-bound ideal time it runs is measured by `npm run bench source-scenario`.
  it('289 posts, three projects at 10/s, project one out for the day after 147 requests: done, no calls into a cooldown', async () => {
    emulator = await startEmulator(
      parseEmulatorConfig({
        seed: 147,
        latency_ms: { min: 5, max: 15 },
        projects: {
          'blog-prod': { exhaust_after: 147, models: PER_MODEL(RATE) },
          'blog-batch': { models: PER_MODEL(RATE) },
          'blog-overflow': { models: PER_MODEL(RATE) },
        },
      }),
      { port: 0 },
    );
    const dir = tempDir();
    writeCredentials(
      join(dir, 'credentials.yaml'),
      emulator.url,
      ['blog-prod', 'blog-batch', 'blog-overflow'].map((name) => ({ name, quotas: `{ default: { requests: ${RATE}, window: 1s } }` })),
    );
    const job = writeJob(dir, { items: 289, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 16, max_attempts: 3 }' });
    const run = await runCli(['run', job, '--json', '--yes']);
    expect(run.stderr).toMatch(/quota: project blog-prod is out for the day/);
    expect(run.code).toBe(0);
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: 578 });

    const log = emulator.log();
    // The wall: blog-prod's first refusal after its 147 accepted requests of the day.
    let accepted = 0;
    const wall = log.find((r) => r.project === 'blog-prod' && (r.status === 200 ? (accepted++, false) : r.status === 429 && accepted >= 147));
    expect(wall).toBeDefined();
    // Once blog-prod answered "out for the day", nothing more was sent to it, beyond calls already
    // leased: at most one per place of concurrency, arriving soon after (a loaded host may take more
    // than 100 ms between a lease and its send: the call's intent is committed first). A breaker that
    // let calls through would send to it for the rest of the run.
    const afterWall = log.filter((r) => r.project === 'blog-prod' && r.at > (wall?.at ?? 0));
    expect(afterWall.length).toBeLessThanOrEqual(16);
    expect(afterWall.filter((r) => r.at > (wall?.at ?? 0) + 2000)).toEqual([]);
    const rejected = log.filter((r) => r.status === 429).length;
    expect(rejected).toBeLessThanOrEqual(16); // at most the calls in flight when a wall came

    // The ledger agrees with the emulator's independent count.
    const db = new Database(join(dir, '.genbatch', 'quota-job.db'), { readonly: true });
    const ledgerOk = (db.prepare('SELECT count(*) AS n FROM ledger WHERE http_status = 200 AND error_code IS NULL').get() as { n: number }).n;
    db.close();
    expect(ledgerOk).toBe(log.filter((r) => r.status === 200).length);
  });
});
