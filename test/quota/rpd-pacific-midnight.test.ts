import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls, billedUsd, ledgerUsd } from '../helpers/billed.js';
import { faketimeInstalled, runCli } from '../helpers/cli.js';
import { ONE_CALL_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

/** Calls the ledger booked before and after an instant (the run's own clock wrote `at`). */
function callsAround(db: string, instantIso: string): { before: number; after: number } {
  const sql = new Database(db, { readonly: true });
  try {
    const count = (op: string): number => (sql.prepare(`SELECT count(*) AS n FROM ledger WHERE cached = 0 AND at ${op} ?`).get(instantIso) as { n: number }).n;
    return { before: count('<'), after: count('>=') };
  } finally {
    sql.close();
  }
}

// Vertex resets per-day quotas at midnight Pacific time: 08:00 UTC in winter (PST), 07:00 UTC in
// summer (PDT). The run's clock starts seconds before that midnight (libfaketime); the emulator's is real.
describe.skipIf(!faketimeInstalled)('rpd across a Pacific midnight (skipped without faketime)', () => {
  for (const { season, start, midnight } of [
    { season: 'winter (PST, UTC-8)', start: '2026-12-08 07:59:54', midnight: '2026-12-08T08:00:00.000Z' },
    { season: 'summer (PDT, UTC-7)', start: '2026-07-08 06:59:54', midnight: '2026-07-08T07:00:00.000Z' },
  ]) {
    it(`${season}: rpd 60 gives 60 calls before midnight and the other 40 right after it`, { timeout: 90_000 }, async () => {
      emulator = await startEmulator(parseEmulatorConfig({ seed: 31, latency_ms: 5 }), { port: 0 });
      const dir = tempDir();
      writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1', quotas: '{ default: { rpd: 60 } }' }]);
      const job = writeJob(dir, { items: 100, steps: ONE_CALL_STEP, limits: '{ concurrency: 4, max_attempts: 2, max_stall: 60s }' });
      const run = await runCli(['run', job, '--yes', '--plain', '--no-cache'], {
        clock: `@${start}`,
        env: { TZ: 'UTC', GENBATCH_SHARED_DIR: join(dir, 'shared') },
      });
      expect(run.code, run.stderr.slice(-800)).toBe(0);
      expect(billedCalls(emulator)).toBe(100);
      const db = join(dir, '.genbatch', 'quota-job.db');
      expect(stateCounts(db)).toEqual({ done: 100 });
      expect(callsAround(db, midnight)).toEqual({ before: 60, after: 40 });
      expect(ledgerUsd(db)).toBeGreaterThanOrEqual(billedUsd(emulator) - 1e-9);
    });
  }
});
