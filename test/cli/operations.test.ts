import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, IMAGE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
  for (const close of closers.splice(0)) await close();
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

describe('operating genbatch', () => {
  it('notifies a webhook when a run finishes, stalls (75) and hits the budget (3), with a Slack-style template too', async () => {
    emulator = await startEmulator(parseEmulatorConfig({}), { port: 0 });
    const hook = await webhookReceiver(closers, '/hook/s3cr3t-path');
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const job = writeJob(dir, { items: 10, steps: BRIEF_STEP, limits: '{ concurrency: 2, max_stall: 1s }' });
    expect((await runCli(['run', job, '--yes', '--notify', hook.url])).code).toBe(0);
    expect(hook.bodies[0]).toMatchObject({ job: 'quota-job', outcome: 'finished', exit_code: 0 });

    const stalledDir = tempDir();
    emulator.setConfig(parseEmulatorConfig({ projects: { p: { requests: 1, window: '1h' } } }));
    writeCredentials(join(stalledDir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const stalledJob = writeJob(stalledDir, { items: 10, steps: BRIEF_STEP, limits: '{ concurrency: 2, max_stall: 1s }' });
    // --no-cache: the first job's answers would serve these same requests without the quota.
    expect(
      (await runCli(['run', stalledJob, '--yes', '--no-cache', '--notify', hook.url, '--notify-template', '{"text": "{{summary}}", "code": {{exit_code}}}']))
        .code,
    ).toBe(75);
    expect(hook.bodies[1]).toMatchObject({ code: 75, text: expect.stringMatching(/quota-job.*stalled/) });

    const budgetDir = tempDir();
    emulator.setConfig(parseEmulatorConfig({}));
    writeCredentials(join(budgetDir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const budgetJob = writeJob(budgetDir, {
      items: 20,
      steps: BRIEF_STEP + IMAGE_STEP,
      limits: '{ concurrency: 2 }',
      extra: `budget: { max_usd: 0.2 }\nnotify: "${hook.url}"\n`,
    });
    expect((await runCli(['run', budgetJob, '--yes'])).code).toBe(3);
    expect(hook.bodies[2]).toMatchObject({ outcome: 'budget', exit_code: 3 });
  });

  it('review, reject and retry --rejected regenerate only the rejected items', async () => {
    emulator = await startEmulator(parseEmulatorConfig({}), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const job = writeJob(dir, { items: 6, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 2 }' });
    expect((await runCli(['run', job, '--yes'])).code).toBe(0);
    const review = await runCli(['review', job]);
    expect(review.code).toBe(0);
    const page = readFileSync(review.stdout.trim(), 'utf8');
    expect(page.match(/<article class="item"/g)?.length).toBe(6);
    expect((await runCli(['reject', job, 'terraform-2', 'redis-4', '--step', 'hero', '--note', 'text in the image'])).code).toBe(0);
    expect((await runCli(['retry', job, '--rejected'])).code).toBe(0);
    const before = emulator.log().length;
    expect((await runCli(['resume', job, '--yes'])).code).toBe(0);
    const redone = emulator.log().slice(before);
    expect(redone.map((r) => r.model)).toEqual(['gemini-2.5-flash-image', 'gemini-2.5-flash-image']);
  });

  it('runs every job of a folder in turn (genbatch run DIR)', async () => {
    emulator = await startEmulator(parseEmulatorConfig({}), { port: 0 });
    const root = tempDir();
    const jobs = join(root, 'nightly');
    mkdirSync(jobs);
    writeCredentials(join(root, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    for (const name of ['alpha', 'beta']) {
      const sub = join(root, name);
      mkdirSync(sub);
      writeCredentials(join(sub, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
      const file = writeJob(sub, { items: 3, steps: BRIEF_STEP, limits: '{ concurrency: 2 }' });
      writeFileSync(
        join(jobs, `${name}.yaml`),
        readFileSync(file, 'utf8')
          .replace('name: quota-job', `name: ${name}`)
          // Each job its own prompts: the same requests would be answered once, from the response cache.
          .replace('Image brief for {{title}}', `Image brief for {{title}} (${name})`)
          .replace('file: posts.csv', `file: ../${name}/posts.csv`)
          .replace('credentials: credentials.yaml', `credentials: ../${name}/credentials.yaml`),
      );
    }
    const result = await runCli(['run', jobs, '--yes']);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/Ran 2 job\(s\): alpha\.yaml → 0, beta\.yaml → 0/);
    expect(emulator.log()).toHaveLength(6);
  });

  it('no key material in logs, state files, results, review pages or metrics', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ fail_rate_503: 0.2, projects: { denied: { deny: true } } }), { port: 0 });
    const dir = tempDir();
    const KEY = 'AIzaSyD-very-secret-key-0123456789abcdef';
    process.env.GENBATCH_TEST_KEY = KEY;
    // Worker processes are shared between files (vitest.config.ts): the next file must not inherit it.
    onTestFinished(() => {
      delete process.env.GENBATCH_TEST_KEY;
    });
    writeFileSync(
      join(dir, 'credentials.yaml'),
      `projects:\n  - { name: ok, project: ok, api_key: "${KEY}", endpoint: "${emulator.url}" }\n  - { name: denied, project: denied, api_key_env: GENBATCH_TEST_KEY, endpoint: "${emulator.url}" }\n`,
    );
    const job = writeJob(dir, { items: 8, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 2, max_attempts: 5 }', extra: 'results: out/results.csv\n' });
    const run = await runCli(['run', job, '--yes', '--metrics-file', join(dir, 'out', 'metrics.prom')], { env: { GENBATCH_TEST_KEY: KEY } });
    expect(run.code).toBe(0);
    const review = await runCli(['review', job]);
    const status = await runCli(['status', job, '--json']);
    const cost = await runCli(['cost', job, '--csv']);
    for (const text of [run.stdout, run.stderr, review.stdout, review.stderr, status.stdout, cost.stdout]) expect(text).not.toContain(KEY);
    const written = [...filesUnder(join(dir, 'out')), ...filesUnder(join(dir, '.genbatch'))];
    expect(written.some((f) => f.endsWith('.jsonl'))).toBe(true); // the run log
    expect(written.some((f) => f.endsWith('.prom'))).toBe(true);
    expect(written.some((f) => f.endsWith('.html'))).toBe(true);
    for (const file of written) expect(readFileSync(file).includes(Buffer.from(KEY)), file).toBe(false);
  });
});
