import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedUsd } from '../helpers/billed.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Issue 12, part 1: the worst case reserved before each call is a true bound, so the budget cap
 * holds even with 16 calls in flight. Measured before the fix: $0.688 billed under a $0.50 cap with
 * thinking replies, $0.591 with a 30,000-character CJK style.
 */
const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const served = (e: RunningEmulator): { ok: number; output: number } =>
  Object.values(e.stats().projects).reduce((acc, p) => ({ ok: acc.ok + p.ok, output: acc.output + p.output_tokens }), { ok: 0, output: 0 });

describe('the budget cap holds with a true worst case before every call', () => {
  it('replies with thinking tokens, concurrency 16, cap $0.50: the emulator bills at most $0.50', async () => {
    // Every reply thinks about 3000 tokens unless the request bounds it: 3x the reply itself.
    emulator = await startEmulator(
      parseEmulatorConfig({ seed: 12, latency_ms: { min: 20, max: 60 }, models: { 'gemini-2.5-flash': { thoughts_tokens: { mean: 3000, sd: 400 } } } }),
      { port: 0 },
    );
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }, { name: 'b' }]);
    // Room for gemini-2.5-flash's default budget (1,024) inside max_output_tokens, so every reply thinks that much.
    const step = BRIEF_STEP.replace('max_output_tokens: 200', 'max_output_tokens: 4000');
    const job = writeJob(dir, { items: 300, steps: step, limits: '{ concurrency: 16 }', extra: 'budget: { max_usd: 0.5 }\n' });

    const run = await runCli(['run', job, '--yes']);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/Stopped by the budget cap/);
    const billed = billedUsd(emulator);
    const { ok, output } = served(emulator);
    console.log(`thinking: ${ok} calls, billed $${billed.toFixed(4)} under a $0.50 cap`);
    expect(billed).toBeLessThanOrEqual(0.5);
    // The cap was nearly used up: the bound is not so loose that the run stopped early.
    expect(billed).toBeGreaterThan(0.4);
    // Each call carried gemini-2.5-flash's default thinking budget (1024), inside max_output_tokens
    // (4000): no reply, thinking included, exceeded max_output_tokens, and every one thought 1,024 tokens.
    expect(output).toBeLessThanOrEqual(ok * 4000);
    expect(output).toBeGreaterThan(ok * 1024);
  });

  it('a 30,000-character CJK style, concurrency 16, cap $0.50: the emulator bills at most $0.50', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 7, latency_ms: { min: 20, max: 60 } }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }, { name: 'b' }]);
    // Chinese with a few Latin words inside, as real prompts have: about one token per character.
    const sentence = '请用专业的语气写一篇关于数据库的文章，包括AI和Python的例子，并说明在生产环境中的经验。';
    const style = sentence.repeat(Math.ceil(30_000 / sentence.length)).slice(0, 30_000);
    const step = BRIEF_STEP.replace('prompt: "Image brief for {{title}}"', 'prompt: "Image brief for {{title}}. {{styles.house}}"');
    const job = writeJob(dir, { items: 100, steps: step, limits: '{ concurrency: 16 }', extra: `budget: { max_usd: 0.5 }\nstyles: { house: "${style}" }\n` });

    const run = await runCli(['run', job, '--yes']);
    expect(run.code, run.stderr).toBe(3);
    const billed = billedUsd(emulator);
    const { ok } = served(emulator);
    const input = Object.values(emulator.stats().projects).reduce((n, p) => n + p.input_tokens, 0);
    console.log(`CJK style: ${ok} calls of ~${Math.round(input / ok)} prompt tokens, billed $${billed.toFixed(4)} under a $0.50 cap`);
    // The emulator counts Gemini's way: about one token per CJK character, Latin words included.
    expect(input / ok).toBeGreaterThan(25_000);
    expect(billed).toBeLessThanOrEqual(0.5);
    expect(billed).toBeGreaterThan(0.4);
  });
});
