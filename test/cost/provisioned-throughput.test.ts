import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Calls served by provisioned throughput (usageMetadata.trafficType PROVISIONED_THROUGHPUT) are
 * prepaid: genbatch records them at $0 marginal cost with their traffic type, and `genbatch cost`
 * shows them on rows of their own, so totals count only what pay-as-you-go calls cost.
 */

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

interface CostJson {
  total_usd: number;
  provisioned_calls: number;
  rows: { project: string; calls: number; provisioned: boolean; cost_usd: number }[];
}

describe('provisioned throughput', () => {
  it('is recorded with its traffic type at $0 and shown apart by genbatch cost (text, --json and --csv)', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 5, latency_ms: 0, projects: { reserved: { provisioned_throughput: true } } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'reserved' }, { name: 'paygo' }]);
    const job = writeJob(dir, { items: 10, steps: BRIEF_STEP, limits: '{ concurrency: 2 }' });
    const run = await runCli(['run', job, '--yes', '--plain', '--no-cache']);
    expect(run.code, run.stderr.slice(-1500)).toBe(0);

    const db = new Database(join(dir, '.genbatch', 'quota-job.db'), { readonly: true });
    const ledger = db.prepare('SELECT project, traffic_type, cost_usd FROM ledger ORDER BY id').all() as {
      project: string;
      traffic_type: string;
      cost_usd: number;
    }[];
    db.close();
    const reserved = ledger.filter((r) => r.project === 'reserved');
    const paygo = ledger.filter((r) => r.project === 'paygo');
    expect(reserved.length).toBeGreaterThan(0);
    expect(paygo.length).toBeGreaterThan(0);
    for (const r of reserved) expect(r).toMatchObject({ traffic_type: 'PROVISIONED_THROUGHPUT', cost_usd: 0 });
    for (const r of paygo) expect(r.traffic_type).toBe('ON_DEMAND');
    const paid = paygo.reduce((sum, r) => sum + r.cost_usd, 0);
    expect(paid).toBeGreaterThan(0);

    const cost = JSON.parse((await runCli(['cost', job, '--json'])).stdout) as CostJson;
    expect(cost.provisioned_calls).toBe(reserved.length);
    // `cost --json` rounds to the micro-dollar: at most half a micro-dollar off.
    expect(Math.abs(cost.total_usd - paid)).toBeLessThanOrEqual(5e-7 + 1e-12);
    expect(cost.rows.filter((r) => r.provisioned)).toEqual([expect.objectContaining({ project: 'reserved', calls: reserved.length, cost_usd: 0 })]);

    const text = (await runCli(['cost', job])).stdout;
    expect(text).toContain(`+ ${reserved.length} call(s) on provisioned throughput (prepaid: $0 here`);
    expect(text).toMatch(/reserved .* provisioned throughput/);
    const csv = parse((await runCli(['cost', job, '--csv'])).stdout, { columns: true }) as Record<string, string>[];
    expect(csv.find((r) => r.project === 'reserved')).toMatchObject({ provisioned: '1', cost_usd: '0.000000' });

    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { cost_usd: number };
    expect(Math.abs(status.cost_usd - paid)).toBeLessThanOrEqual(5e-7 + 1e-12);
  });
});
