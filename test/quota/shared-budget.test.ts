import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedUsd } from '../helpers/billed.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { writeSharedCredentials, writeSharedJob } from '../helpers/shared-jobs.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
let hook: Server | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
  if (hook) {
    hook.closeAllConnections();
    await new Promise<void>((resolve) => hook?.close(() => resolve()));
  }
  hook = undefined;
});

/** A webhook that keeps what it is sent. */
async function startHook(): Promise<{ url: string; bodies: Record<string, unknown>[] }> {
  const bodies: Record<string, unknown>[] = [];
  hook = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hook?.listen(0, '127.0.0.1', resolve));
  const address = hook.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`, bodies };
}

const DAILY_USD = 0.03;

interface CostAll {
  day: string;
  daily_usd: number;
  spent_usd: number;
  held_usd: number;
  rows: { job: string; project: string; calls: number; cost_usd: number }[];
}

describe('shared budget: budget.daily_usd in the credentials file caps every job using it, together', () => {
  it(
    'two jobs stop together at the cap (exit 3), the emulator billed no more, the alert is sent once, cost --all shows who spent what',
    { timeout: 120_000 },
    async () => {
      emulator = await startEmulator(parseEmulatorConfig({ seed: 5, latency_ms: { min: 5, max: 20 } }), { port: 0 });
      const { url, bodies } = await startHook();
      const dir = tempDir();
      const shared = tempDir();
      const credentials = writeSharedCredentials(dir, emulator.url, {
        projects: ['spend-a', 'spend-b'],
        top: `budget: { daily_usd: ${DAILY_USD}, alert_at: 0.5 }\n`,
      });
      const names = ['briefs', 'captions'];
      const jobs = names.map((name) => writeSharedJob(dir, name, { items: 150, limits: '{ concurrency: 4, max_attempts: 3 }' }));
      const metricsFile = join(dir, 'briefs.prom');
      const children = jobs.map((job, i) =>
        spawnCli(['run', job, '--yes', '--plain', '--notify', url, ...(i === 0 ? ['--metrics-file', metricsFile] : [])], {
          env: { GENBATCH_SHARED_DIR: shared },
        }),
      );
      const results = await Promise.all(children.map((c) => c.output));
      for (const r of results) {
        expect(r.code, r.stderr.slice(-800)).toBe(3);
        expect(r.stderr).toContain(`which could cross budget.daily_usd of $${DAILY_USD.toFixed(2)} in ${credentials}, shared by every job using that file`);
        expect(r.stderr).toContain(`genbatch cost --all ${credentials}`);
      }

      const billed = billedUsd(emulator);
      const calls = emulator.log().length;
      console.log(`shared budget: $${billed.toFixed(4)} billed over ${calls} calls for a shared daily_usd of $${DAILY_USD}`);
      expect(billed).toBeLessThanOrEqual(DAILY_USD);
      // It is the cap that stopped them, not something else: most of the money was used.
      expect(billed).toBeGreaterThan(DAILY_USD / 2);

      // The day's alert (alert_at 0.5) was sent once, by one of the runs; each run's end was sent too.
      const alerts = bodies.filter((b) => b.outcome === 'budget_alert');
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ budget_alert: { daily_usd: DAILY_USD, alert_at: 0.5, credentials } });
      expect(bodies.filter((b) => b.outcome === 'budget').map((b) => b.job)).toEqual(expect.arrayContaining(names));

      // cost --all: today's spend per job and project, as the runs booked it; it matches what was billed.
      const all = await runCli(['cost', '--all', credentials, '--json'], { env: { GENBATCH_SHARED_DIR: shared } });
      expect(all.code, all.stderr).toBe(0);
      const report = JSON.parse(all.stdout) as CostAll;
      expect(report.daily_usd).toBe(DAILY_USD);
      expect(report.spent_usd).toBeLessThanOrEqual(DAILY_USD);
      expect(report.spent_usd).toBeCloseTo(billed, 4);
      expect(report.held_usd).toBe(0);
      expect(new Set(report.rows.map((r) => r.job))).toEqual(new Set(names));
      expect(new Set(report.rows.map((r) => r.project))).toEqual(new Set(['spend-a', 'spend-b']));
      expect(report.rows.reduce((n, r) => n + r.calls, 0)).toBe(calls);
      const text = await runCli(['cost', '--all', credentials], { env: { GENBATCH_SHARED_DIR: shared } });
      expect(text.stdout).toContain(`shared budget.daily_usd $${DAILY_USD.toFixed(2)}`);
      expect(text.stdout).toMatch(/briefs\s+spend-a\s+\d+ calls {2}\$0\.\d{4}/);

      // Metrics carry the shared figures.
      const metrics = readFileSync(metricsFile, 'utf8');
      expect(metrics).toMatch(/genbatch_shared_budget_usd\{[^}]*kind="daily"[^}]*\} 0\.03/);
      expect(metrics).toMatch(/genbatch_coordination_up\{[^}]*kind="local"[^}]*\} 1/);
    },
  );
});
