import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCredentials } from '../../src/credentials/load-credentials.js';
import { parseEmulatorConfig, startEmulator, type EmulatorStats } from '../../src/emulator/index.js';
import { startEmulatorForCredentials } from '../../src/library/emulated-credentials.js';
import { REPO, runCli } from '../helpers/cli.js';
import { writeJobFixture } from '../helpers/job-fixture.js';
import { readStateFile } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/**
 * The example jobs with text steps, and the models they call. The demo (jobs/blog-hero-images.yaml, 289
 * briefs and images, the longest run of the suite) is not run again here: test/cli/demo.test.ts runs it
 * on the emulator `--emulator` starts and finds every brief done with finish reason STOP (a reply cut
 * at MAX_TOKENS fails its item, or would say MAX_TOKENS with `on_truncated: keep`).
 */
const TEXT_JOBS: Record<string, string[]> = {
  'catalogue-alt-text.yaml': ['gemini-2.5-flash-lite'],
  'nightly-digest.yaml': ['gemini-2.5-flash'],
};

const sum = (stats: EmulatorStats, counter: 'ok' | 'max_tokens'): number => Object.values(stats.projects).reduce((n, p) => n + p[counter], 0);

/**
 * Issue 23: on the emulator with Vertex's thinking semantics (thinking counts against
 * max_output_tokens, Flash thinks unless told otherwise), the demo and the example jobs finish with
 * their default settings and no reply is cut at MAX_TOKENS. The emulator is the one `--emulator`
 * starts (same code, same config from the credentials file), started here so that its
 * /_emulator/stats can be read after the run.
 */
describe('the example jobs never get a reply cut at MAX_TOKENS', () => {
  for (const [file, models] of Object.entries(TEXT_JOBS)) {
    it(`${file}: finishes with exit 0, and the emulator counts max_tokens 0`, async () => {
      const dir = tempDir();
      cpSync(join(REPO, 'jobs'), join(dir, 'jobs'), { recursive: true, filter: (src) => !src.includes('.genbatch') });
      cpSync(join(REPO, 'fixtures'), join(dir, 'fixtures'), { recursive: true });
      const credentialsFile = join(dir, 'fixtures', 'credentials.emulator.yaml');
      const emulated = await startEmulatorForCredentials(await loadCredentials(credentialsFile, { emulated: true }), models);
      try {
        // Every project points at that emulator, as --emulator points them.
        writeFileSync(
          credentialsFile,
          readFileSync(credentialsFile, 'utf8').replaceAll('api_key: emulator', `api_key: emulator\n    endpoint: "${emulated.url}"`),
        );
        const run = await runCli(['run', `jobs/${file}`, '--yes', '--plain'], { cwd: dir });
        expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
        expect(run.code).toBe(0);
        const stats = emulated.emulator.stats();
        expect(sum(stats, 'ok')).toBeGreaterThan(0);
        expect(sum(stats, 'max_tokens')).toBe(0);
      } finally {
        await emulated.close();
      }
    }, 120_000);
  }
});

describe('the default thinking budget is lowered to fit max_output_tokens, in what is sent', () => {
  it('gemini-2.5-flash, max_output_tokens 300: every call is sent a budget of 150 (not 1,024), and every reply keeps its half', async () => {
    // A model that would think 3,000 tokens: it thinks exactly the budget it is sent.
    const emulator = await startEmulator(parseEmulatorConfig({ seed: 3, models: { 'gemini-2.5-flash': { thoughts_tokens: { mean: 3000, sd: 200 } } } }), {
      port: 0,
    });
    try {
      const dir = tempDir();
      const job = writeJobFixture(dir, { endpoint: emulator.url, items: 12, imageStep: false });
      const run = await runCli(['run', job, '--yes', '--plain']);
      expect(run.code, run.stderr).toBe(0);
      const calls = readStateFile(join(dir, '.genbatch', 'test-job.db'), (db) =>
        db.prepare("SELECT thoughts_tokens AS thoughts, output_tokens AS output FROM ledger WHERE step = 'brief'").all(),
      ) as { thoughts: number; output: number }[];
      expect(calls).toHaveLength(12);
      expect(new Set(calls.map((c) => c.thoughts))).toEqual(new Set([150]));
      for (const call of calls) expect(call.thoughts + call.output).toBeLessThanOrEqual(300);
      expect(sum(emulator.stats(), 'max_tokens')).toBe(0);
    } finally {
      await emulator.close();
    }
  });
});
