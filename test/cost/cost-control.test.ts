import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, IMAGE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const PROSE_STEP = `  - name: article
    task: text
    model: gemini-2.5-flash
    prompt: "Write the article {{title}}. Summary: {{meta_description}}"
    max_output_tokens: 2000
    on_truncated: keep
`;

interface Estimate {
  items: number;
  total_usd: { low: number; expected: number; high: number };
  by_step: { step: string; basis: string }[];
  token_count_method: string;
  pilot: unknown;
  eta_seconds: number | null;
}
const totalSpent = async (job: string): Promise<number> => (JSON.parse((await runCli(['cost', job, '--json'])).stdout) as { total_usd: number }).total_usd;

describe('cost control', () => {
  it('a 10-item pilot estimates the whole job within 15% when replies run long; the plain estimate is reported beside it', async () => {
    // Replies much longer than a guess from max_output_tokens would say: mean 1500 of 2000 tokens
    // (the few that reach 2000 are cut, and kept: on_truncated: keep).
    emulator = await startEmulator(parseEmulatorConfig({ seed: 21, models: { 'gemini-2.5-flash': { output_tokens: { mean: 1500, sd: 350 } } } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }, { name: 'b' }]);
    const job = writeJob(dir, { items: 150, steps: PROSE_STEP, limits: '{ concurrency: 8 }' });

    const plain = JSON.parse((await runCli(['estimate', job, '--json'])).stdout) as Estimate;
    expect(plain).toMatchObject({ items: 150, pilot: null });
    expect(plain.by_step[0]?.basis).toBe('max_output_tokens');
    expect(['count_tokens_api', 'local_tokenizer', 'heuristic']).toContain(plain.token_count_method);
    expect(plain.total_usd.low).toBeLessThanOrEqual(plain.total_usd.expected);
    expect(plain.total_usd.expected).toBeLessThanOrEqual(plain.total_usd.high);

    const piloted = await runCli(['estimate', job, '--json', '--pilot', '10']);
    expect(piloted.code).toBe(0);
    const pilot = JSON.parse(piloted.stdout) as Estimate;
    expect(pilot.by_step[0]?.basis).toBe('pilot');
    expect(pilot.pilot).toMatchObject({ items: 10 });

    const run = await runCli(['run', job, '--yes']);
    expect(run.code).toBe(0);
    const actual = await totalSpent(job);
    const pilotError = Math.abs(pilot.total_usd.expected - actual) / actual;
    const plainError = Math.abs(plain.total_usd.expected - actual) / actual;
    console.log(
      `cost estimate: actual $${actual.toFixed(4)}; pilot $${pilot.total_usd.expected.toFixed(4)} (error ${(pilotError * 100).toFixed(1)}%, interval $${pilot.total_usd.low.toFixed(4)}-$${pilot.total_usd.high.toFixed(4)}); plain $${plain.total_usd.expected.toFixed(4)} (error ${(plainError * 100).toFixed(1)}%)`,
    );
    expect(pilotError).toBeLessThanOrEqual(0.15);
    expect(actual).toBeGreaterThanOrEqual(pilot.total_usd.low);
    expect(actual).toBeLessThanOrEqual(pilot.total_usd.high);
    expect(run.stderr).toMatch(/Estimate vs actual for this run: expected \$[\d.]+ \(\$[\d.]+–\$[\d.]+\), spent \$[\d.]+\./);
  });

  it('max_usd cuts the run before the cap (exit 3); raising the cap lets a resume complete', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 5 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    // About $0.04 per item (brief + image): a $0.50 cap stops it part-way.
    const job = writeJob(dir, { items: 30, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 4 }', extra: 'budget: { max_usd: 0.5 }\n' });
    const capped = await runCli(['run', job, '--yes']);
    expect(capped.code).toBe(3);
    expect(capped.stderr).toMatch(/Stopped by the budget cap: the next call could cost up to \$[\d.]+, which could cross the job's budget\.max_usd of \$0\.50/);
    expect(capped.stderr).toMatch(/hint: Raise budget\.max_usd/);
    const spent = await totalSpent(job);
    expect(spent).toBeGreaterThan(0.2);
    expect(spent).toBeLessThanOrEqual(0.5);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as {
      last_run: { outcome: string; exit_code: number };
      counts: Record<string, number>;
    };
    expect(status.last_run).toMatchObject({ outcome: 'budget', exit_code: 3 });
    expect(status.counts.pending).toBeGreaterThan(0);

    writeFileSync(job, readFileSync(job, 'utf8').replace('max_usd: 0.5', 'max_usd: 5'));
    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code).toBe(0);
    expect((JSON.parse((await runCli(['status', job, '--json'])).stdout) as { counts: Record<string, number> }).counts.done).toBe(30);
    // Nothing was paid twice: one successful call per item and step.
    expect(emulator.log().filter((r) => r.status === 200)).toHaveLength(60);
  });

  it('--budget overrides max_usd for one run', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 5 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    const job = writeJob(dir, { items: 30, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 4 }', extra: 'budget: { max_usd: 10 }\n' });
    const capped = await runCli(['run', job, '--yes', '--budget', '0.3']);
    expect(capped.code).toBe(3);
    expect(await totalSpent(job)).toBeLessThanOrEqual(0.3);
  });

  it('above the confirmation threshold without a terminal and without --yes: exit 4, and nothing is sent', async () => {
    emulator = await startEmulator(parseEmulatorConfig({}), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    const job = writeJob(dir, { items: 40, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 4 }', extra: 'budget: { confirm_above_usd: 0.10 }\n' });
    const result = await runCli(['run', job]);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/is above budget\.confirm_above_usd \(\$0\.10\) and there is no terminal to ask; nothing was sent/);
    expect(result.stderr).toMatch(/hint: Pass --yes/);
    expect(emulator.log()).toHaveLength(0);
    expect(Object.values(emulator.stats().projects).reduce((n, p) => n + p.requests, 0)).toBe(0);
  });

  it("the ledger's total equals the emulator's served usage priced by the catalog, to the cent", async () => {
    emulator = await startEmulator(
      parseEmulatorConfig({ seed: 9, fail_rate_503: 0.05, models: { 'gemini-2.5-flash': { thoughts_tokens: { mean: 40, sd: 10 } } } }),
      { port: 0 },
    );
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }, { name: 'b' }]);
    const job = writeJob(dir, { items: 60, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 6, max_attempts: 5 }' });
    const run = await runCli(['run', job, '--yes']);
    expect(run.code).toBe(0);
    const catalog = PriceCatalog.load();
    let served = 0;
    for (const project of Object.values(emulator.stats().projects)) {
      for (const [model, c] of Object.entries(project.by_model)) {
        served += catalog.cost(model, {
          ...emptyUsage(),
          inputTokens: c.input_tokens,
          outputTokens: c.output_tokens,
          images: model.startsWith('imagen') ? c.images : 0,
        });
      }
    }
    const ledger = await totalSpent(job);
    console.log(`ledger $${ledger.toFixed(6)} vs emulator-served usage priced $${served.toFixed(6)}`);
    expect(Math.abs(ledger - served)).toBeLessThan(0.005);
  });
});
