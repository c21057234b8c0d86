import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeJob } from '../helpers/emulated-job.js';
import { stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const KEY = 'AIzaSyTestKeyForTheEmulator0123456789abc';
const ITEMS = 40;

interface Status {
  projects: { name: string; requests: number; ok: number; cost_usd: number }[];
  cost_usd: number;
}

function credentials(dir: string, endpoint: string): string {
  const file = join(dir, 'credentials.yaml');
  writeFileSync(
    file,
    `projects:
  - { name: vertex-one, project: vertex-one, location: us-central1, api_key: vertex-key, endpoint: "${endpoint}" }
  - { name: studio, api: gemini, api_key_env: STUDIO_KEY, endpoint: "${endpoint}" }
`,
  );
  return file;
}

describe('Gemini API keys (api: gemini) beside Vertex projects', () => {
  it('one pool of a Vertex project and an AI Studio key: calls spread over both, and the emulator counts each on its own path', async () => {
    const dir = tempDir();
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 20, api_keys: { [KEY]: 'studio-project' } }), { port: 0 });
    credentials(dir, emulator.url);
    const job = writeJob(dir, { items: ITEMS, steps: BRIEF_STEP, limits: '{ concurrency: 4 }' });
    const run = await runCli(['run', job, '--yes', '--plain', '--no-cache'], { env: { STUDIO_KEY: KEY } });
    expect(run.code, run.stderr.slice(-1500)).toBe(0);
    expect(stepStates(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: ITEMS });

    const stats = emulator.stats().projects;
    expect(stats['vertex-one']?.api).toBe('vertex');
    expect(stats['studio-project']?.api).toBe('gemini');
    const vertex = stats['vertex-one']?.ok ?? 0;
    const studio = stats['studio-project']?.ok ?? 0;
    expect(vertex + studio).toBe(ITEMS);
    // Round-robin: each takes a fair share.
    expect(Math.min(vertex, studio)).toBeGreaterThanOrEqual(ITEMS / 4);
    expect(emulator.log().filter((e) => e.api === 'gemini')).toHaveLength(studio);

    // genbatch's own view agrees, and prices the key's calls as well.
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as Status;
    const byName = Object.fromEntries(status.projects.map((p) => [p.name, p]));
    expect([byName['vertex-one']?.ok, byName.studio?.ok]).toEqual([vertex, studio]);
    expect(byName.studio?.cost_usd).toBeGreaterThan(0);

    // The key itself is nowhere: not in the state file, the run log or what was printed.
    const files = [join(dir, '.genbatch', 'quota-job.db'), ...readdirSync(join(dir, '.genbatch', 'logs')).map((f) => join(dir, '.genbatch', 'logs', f))];
    for (const file of files) expect(readFileSync(file).includes(KEY), file).toBe(false);
    expect(run.stdout + run.stderr).not.toContain(KEY);
  });

  it('--emulator: the in-process emulator serves the key on the Gemini API path', async () => {
    const dir = tempDir();
    credentials(dir, 'http://127.0.0.1:9');
    const job = writeJob(dir, { items: 8, steps: BRIEF_STEP, limits: '{ concurrency: 2 }' });
    const run = await runCli(['run', job, '--yes', '--plain', '--emulator', '--no-cache']);
    expect(run.code, run.stderr.slice(-1500)).toBe(0);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as Status;
    const byName = Object.fromEntries(status.projects.map((p) => [p.name, p.ok]));
    expect((byName['vertex-one'] ?? 0) + (byName.studio ?? 0)).toBe(8);
    expect(byName.studio).toBeGreaterThan(0);
  });

  it('an Imagen step on a pool of keys only is refused before anything is sent, naming the step (exit 2)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'credentials.yaml'), `projects:\n  - { name: studio, api: gemini, api_key_env: STUDIO_KEY, endpoint: "http://127.0.0.1:9" }\n`);
    const job = writeJob(dir, {
      items: 2,
      steps: `  - name: hero
    task: image
    model: imagen-4.0-fast-generate-001
    prompt: "A hero image for {{title}}"
    output: { file: "images/{{slug}}.png" }
`,
      limits: '{ concurrency: 1 }',
    });
    for (const command of [
      ['validate', job],
      ['run', job, '--yes'],
    ]) {
      const result = await runCli(command, { env: { STUDIO_KEY: KEY } });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(
        /job\.yaml:\d+: steps\.hero\.model: imagen-4\.0-fast-generate-001 is not sent to the Gemini API, and pool "default" has only Gemini API keys \(studio\)/,
      );
    }
  });

  it('a key entry with a key file, or a Vertex entry without a project, is refused naming the line (exit 2)', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'credentials.yaml'),
      `projects:
  - { name: studio, api: gemini, key_file: key.json }
  - { name: vertex-two, api_key: k }
`,
    );
    const job = writeJob(dir, { items: 2, steps: BRIEF_STEP, limits: '{ concurrency: 1 }' });
    const result = await runCli(['validate', job]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /credentials\.yaml:2: projects\[0\]\.key_file: project "studio": a Gemini API entry \(api: gemini\) authenticates with an API key only/,
    );
    expect(result.stderr).toMatch(/credentials\.yaml:3: projects\[1\]\.project: project "vertex-two": no Google Cloud project id/);
  });
});
