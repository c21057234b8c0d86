import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { REPO, runCli } from '../helpers/cli.js';
import { writeCredentials } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe("the source's pipe-delimited export", () => {
  it('a job on it exits 2 before any call, listing every bad row; with on_bad_row: repair it runs with the intended titles', async () => {
    emulator = await startEmulator(parseEmulatorConfig({}), { port: 0 });
    const dir = tempDir();
    copyFileSync(join(REPO, 'fixtures', 'input', 'pipe-export-broken.csv'), join(dir, 'posts.csv'));
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const job = (policy: string): string => {
      const file = join(dir, `job-${policy}.yaml`);
      writeFileSync(
        file,
        `version: 1
name: pipe-${policy}
input: { file: posts.csv, id: slug, on_bad_row: ${policy} }
credentials: credentials.yaml
steps:
  - { name: brief, task: text, model: gemini-2.5-flash, prompt: "Brief for {{title}}", output: { file: "briefs/{{slug}}.txt" } }
`,
      );
      return file;
    };
    const refused = await runCli(['run', job('fail'), '--yes']);
    expect(refused.code).toBe(2);
    const inspect = JSON.parse((await runCli(['inspect', join(dir, 'posts.csv'), '--json'])).stdout) as { problems: { line: number }[] };
    expect(inspect.problems.length).toBeGreaterThan(1);
    for (const problem of inspect.problems) expect(refused.stderr).toMatch(new RegExp(`line ${problem.line}\\b`));
    expect(emulator.log()).toHaveLength(0);

    const repaired = await runCli(['run', job('repair'), '--yes']);
    expect(repaired.code).toBe(0);
    const preview = await runCli(['preview', job('repair'), '--n', '30', '--json']);
    const prompts = (JSON.parse(preview.stdout) as { steps: { prompt: string }[] }[]).map((i) => i.steps[0]?.prompt);
    expect(prompts).toContain('Brief for PostgreSQL vs MySQL vs SQLite | Which Database Should You Choose?');
  });
});
