import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: TestEmulator;
beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(() => emulator.close());

describe('an Imagen run', () => {
  it("does not print the SDK's deprecation notice for generateImages to the person running the job", async () => {
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'proj-a' }]);
    const job = writeJob(dir, {
      items: 2,
      steps: `  - name: photo
    task: image
    model: imagen-4.0-fast-generate-001
    prompt: "A studio photo for {{title}}"
    output: { file: "photos/{{slug}}.png" }
`,
      limits: '{ concurrency: 1 }',
    });
    const run = await runCli(['run', job, '--yes', '--plain'], { cwd: dir });
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(run.code).toBe(0);
    expect(Object.values(emulator.stats().projects).reduce((n, p) => n + p.images, 0)).toBe(2);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/deprecated/i);
  });
});
