import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, IMAGE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Issue 12, part 4: an estimate, its confirmation and the end-of-run comparison cover what the run
 * will do — the next N items with --limit, a pilot's items, requests (not items) of batched steps,
 * what a resumed run had left.
 */
const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

interface Estimate {
  items: number;
  remaining_items: number;
  limit: number | null;
  remaining_usd: { low: number; expected: number; high: number };
  total_usd: { low: number; expected: number; high: number };
  by_step: { step: string; items: number; requests: number; basis: string; usd: { expected: number }; thinking_tokens: { expected: number } }[];
  requests_by_project: Record<string, number>;
  pilot: { items: number } | null;
}

const estimateOf = async (args: string[]): Promise<Estimate> => {
  const result = await runCli(['estimate', ...args, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Estimate;
};
const totalSpent = async (job: string): Promise<number> => (JSON.parse((await runCli(['cost', job, '--json'])).stdout) as { total_usd: number }).total_usd;
const doneCount = async (job: string): Promise<number> =>
  (JSON.parse((await runCli(['status', job, '--json'])).stdout) as { counts: Record<string, number> }).counts.done ?? 0;
/** The "Estimate vs actual for this run" line: expected and spent. */
function comparison(stderr: string): { expected: number; spent: number } {
  const match = /Estimate vs actual for this run: expected \$([\d.]+) \(\$[\d.]+–\$[\d.]+\), spent \$([\d.]+)\./.exec(stderr);
  expect(match, stderr).not.toBeNull();
  return { expected: Number(match?.[1]), spent: Number(match?.[2]) };
}

describe('like with like', () => {
  it('run --limit 3 confirms (and compares with) the price of 3 items, not the whole job', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 3 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    // About $0.04 per item (brief + image): $1.6 for the job, $0.12 for 3 items.
    const job = writeJob(dir, { items: 40, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 4 }', extra: 'budget: { confirm_above_usd: 0.05 }\n' });
    const whole = await estimateOf([job]);
    expect(whole.remaining_items).toBe(40);
    // The brief step's estimate expects thinking: 60% of the budget sent, gemini-2.5-flash's default of
    // 1,024 lowered to half of max_output_tokens (200): 100.
    expect(whole.by_step.find((s) => s.step === 'brief')?.thinking_tokens.expected).toBe(40 * 60);
    const threeItems = (whole.remaining_usd.expected * 3) / 40;

    // Above the threshold: the question (no terminal here, so the refusal) names the 3 items' price.
    const refused = await runCli(['run', job, '--limit', '3']);
    expect(refused.code).toBe(4);
    const asked = /The estimate \(\$([\d.]+) expected for the next 3 item\(s\) \(--limit\)\) is above budget\.confirm_above_usd \(\$0\.05\)/.exec(
      refused.stderr,
    );
    expect(asked, refused.stderr).not.toBeNull();
    expect(Math.abs(Number(asked?.[1]) - threeItems)).toBeLessThanOrEqual(0.01);
    expect(refused.stderr).toMatch(/Estimate for quota-job: the next 3 item\(s\) with work left, of 40 /);
    expect(emulator.log()).toHaveLength(0);

    // Under a threshold the whole job would cross ($0.50 < $1.6), 3 items run without asking.
    writeFileSync(job, readFileSync(job, 'utf8').replace('confirm_above_usd: 0.05', 'confirm_above_usd: 0.5'));
    const run = await runCli(['run', job, '--limit', '3']);
    expect(run.code, run.stderr).toBe(0);
    expect(await doneCount(job)).toBe(3);
    expect(emulator.log().filter((r) => r.status === 200)).toHaveLength(6);
    const { expected, spent } = comparison(run.stderr);
    console.log(`--limit 3: expected $${expected}, spent $${spent} (whole job $${whole.remaining_usd.expected})`);
    expect(Math.abs(expected - threeItems)).toBeLessThanOrEqual(0.001);
    expect(spent).toBeCloseTo(await totalSpent(job), 4);
    expect(Math.abs(expected - spent) / spent).toBeLessThan(0.25);
  });

  it('estimate --pilot asks above the threshold (exit 4 without a terminal, nothing sent) and takes --yes', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 4 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    const job = writeJob(dir, { items: 40, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 4 }', extra: 'budget: { confirm_above_usd: 0.05 }\n' });

    const refused = await runCli(['estimate', job, '--pilot', '5']);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(
      /The estimate \(\$0\.2\d expected for a pilot of 5 item\(s\)\) is above budget\.confirm_above_usd \(\$0\.05\) and there is no terminal to ask; nothing was sent\./,
    );
    expect(refused.stderr).toMatch(/hint: Pass --yes to allow it/);
    expect(emulator.log()).toHaveLength(0);

    const piloted = await runCli(['estimate', job, '--pilot', '5', '--yes', '--json']);
    expect(piloted.code, piloted.stderr).toBe(0);
    const estimate = JSON.parse(piloted.stdout) as Estimate;
    expect(estimate.pilot).toMatchObject({ items: 5 });
    expect(estimate.remaining_items).toBe(35);
    expect(await doneCount(job)).toBe(5);
  });

  it('batched embeddings are estimated per request: 600 items in batches of 10 are 60 calls, and a pilot scales by requests', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 6 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }, { name: 'b' }]);
    // The batched step first: its lane fills up, so every request is a full batch.
    const step = `  - name: embed_batched
    task: embedding
    model: text-embedding-005
    prompt: "{{title}}. {{meta_description}}"
    batch_size: 10
    output: { file: vectors/batched.jsonl }
  - name: embed
    task: embedding
    model: gemini-embedding-001
    prompt: "{{title}}. {{meta_description}}"
    output: { file: vectors/embeddings.jsonl }
`;
    const job = writeJob(dir, { items: 600, steps: step, limits: '{ concurrency: 8 }' });
    const plain = await estimateOf([job]);
    // gemini-embedding-001 takes one text per request; text-embedding-005 here ten.
    expect(plain.by_step.map((s) => [s.step, s.items, s.requests])).toEqual([
      ['embed_batched', 600, 60],
      ['embed', 600, 600],
    ]);
    expect(Object.values(plain.requests_by_project).reduce((a, b) => a + b, 0)).toBe(660);
    const text = await runCli(['estimate', job]);
    expect(text.stdout).toMatch(/embed_batched +embedding +text-embedding-005 +60 calls for 600 items/);

    // A pilot measures a request's cost (the ledger has one row per request): the rest is scaled by requests.
    const pilot = await estimateOf([job, '--pilot', '50']);
    const batched = pilot.by_step.find((s) => s.step === 'embed_batched');
    expect(batched).toMatchObject({ basis: 'pilot', items: 550, requests: 55 });
    const run = await runCli(['run', job, '--yes']);
    expect(run.code, run.stderr).toBe(0);
    // 60 full batches (one may be split where the pilot or a page of items ended).
    const batches = emulator.log().filter((r) => r.model === 'text-embedding-005' && r.status === 200).length;
    expect(batches).toBeGreaterThanOrEqual(60);
    expect(batches).toBeLessThanOrEqual(62);
    const cost = JSON.parse((await runCli(['cost', job, '--json'])).stdout) as { rows: { step: string; cost_usd: number }[] };
    const actual = cost.rows.filter((r) => r.step === 'embed_batched').reduce((sum, r) => sum + r.cost_usd, 0);
    const pilotTotal = actual * (50 / 600) + (batched?.usd.expected ?? NaN);
    console.log(`batched embeddings: pilot estimate $${pilotTotal.toFixed(6)}, actual $${actual.toFixed(6)}`);
    expect(Math.abs(pilotTotal - actual) / actual).toBeLessThan(0.15);
    // 660 embedding calls over a pilot and a run: it passed 60 s in 2 of 3 runs on a loaded machine (load ~14).
  }, 150_000);

  it('a resumed run compares what it spent with the estimate of what it had left; a pilot is not part of the comparison', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 8 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    const job = writeJob(dir, { items: 40, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 4 }', extra: 'budget: { max_usd: 0.6 }\n' });
    const whole = await estimateOf([job]);

    // A pilot of 5, then the rest until the cap: the comparison is of the rest only.
    const capped = await runCli(['run', job, '--yes', '--pilot', '5']);
    expect(capped.code, capped.stderr).toBe(3);
    const first = comparison(capped.stderr);
    const spentFirst = await totalSpent(job);
    expect(first.spent).toBeLessThan(spentFirst - 0.15); // the 5 pilot items (~$0.2) are not in it

    writeFileSync(job, readFileSync(job, 'utf8').replace('max_usd: 0.6', 'max_usd: 5'));
    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const { expected, spent } = comparison(resumed.stderr);
    const spentResume = (await totalSpent(job)) - spentFirst;
    console.log(`resume: expected $${expected}, spent $${spent} (whole job $${whole.remaining_usd.expected})`);
    expect(spent).toBeCloseTo(spentResume, 3);
    expect(expected).toBeLessThan(whole.remaining_usd.expected * 0.8);
    expect(Math.abs(expected - spent) / spent).toBeLessThan(0.2);
  });
});
