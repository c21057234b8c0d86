import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Absurd numbers, broken templates and prompts longer than the model's context window are refused
 * before any call, through the real CLI: exit 2, the file and line (or input row) named, no state
 * file, no request at the emulator. And the same job, fixed, runs.
 */
const tempDir = useTempDir();
let t: TestEmulator;
beforeAll(async () => {
  t = await startTestEmulator();
});
afterAll(() => t.close());

const requests = (): number => Object.values(t.stats().projects).reduce((sum, p) => sum + p.requests, 0);

function writeJob(dir: string, options: { prompt?: string; step?: string; tail?: string; rows?: string[][] } = {}): string {
  writeFileSync(join(dir, 'credentials.yaml'), `projects:\n  - { name: a, project: limits-a, api_key: test-key-a, endpoint: "${t.url}" }\n`);
  const rows = options.rows ?? [
    ['title', 'slug'],
    ['Kubernetes in production', 'k8s'],
    ['Redis on a budget', 'redis'],
  ];
  writeFileSync(join(dir, 'posts.csv'), stringify(rows));
  const file = join(dir, 'job.yaml');
  writeFileSync(
    file,
    `version: 1
name: limits
input: { file: posts.csv, id: slug }
credentials: credentials.yaml
steps:
  - name: brief
${
  options.step ??
  `    task: text
    model: gemini-2.5-flash
    prompt: ${options.prompt ?? '"Brief for {{title}}"'}
    max_output_tokens: 100
`
}${options.tail ?? ''}`,
  );
  return file;
}

describe('numbers out of range', () => {
  it('limits.concurrency: 100000000 and timeout: 600h: validate and run refuse with the line, key and range; nothing is created or sent', async () => {
    const dir = tempDir();
    const job = writeJob(dir, { tail: 'limits:\n  concurrency: 100000000\n  timeout: 600h\n' });
    const before = requests();
    for (const command of ['validate', 'run']) {
      const result = await runCli([command, job, '--yes'].slice(0, command === 'run' ? 3 : 2));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('job.yaml:12: limits.concurrency: expected a whole number from 1 to 1,000 (got 100,000,000)');
      expect(result.stderr).toContain('job.yaml:13: limits.timeout: 600h is out of range: expected a duration from 1s to 1h');
      expect(result.stderr).not.toMatch(/\n\s+at |This is a bug/);
    }
    expect(existsSync(join(dir, '.genbatch'))).toBe(false);
    expect(requests()).toBe(before);
  });

  it.each([
    [['run', 'JOB', '--limit', '0'], "option '--limit <n>' argument '0' is invalid. expected a whole number from 1 to 1,000,000,000."],
    [['run', 'JOB', '--budget', '1e12'], "option '--budget <usd>' argument '1e12' is invalid. expected an amount in USD above 0 and at most 1,000,000"],
    [['run', 'JOB', '--pilot', '100000'], "option '--pilot <n>' argument '100000' is invalid. expected a whole number from 1 to 10,000."],
    [['preview', 'JOB', '--n', '1e9'], "option '--n <n>' argument '1e9' is invalid. expected a whole number from 1 to 10,000."],
    [['emulator', '--port', '70000'], "option '--port <n>' argument '70000' is invalid. expected a whole number from 1 to 65,535."],
  ])('flag %j', async (args, message) => {
    const job = writeJob(tempDir());
    const result = await runCli(args.map((a) => (a === 'JOB' ? job : a)));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});

describe('templates that would be paid for as literal text', () => {
  it('{{title without a closing brace: validate, preview and run name the line inside the prompt', async () => {
    const job = writeJob(tempDir(), { prompt: '|\n      Write a brief.\n      Title: {{title\n      Be short.' });
    const before = requests();
    for (const args of [
      ['validate', job],
      ['preview', job],
      ['run', job, '--yes'],
    ]) {
      const result = await runCli(args);
      expect(result.code, args[0]).toBe(2);
      expect(result.stderr).toContain('job.yaml:11: steps[0].prompt: "{{title" opens a variable that is never closed with }}');
    }
    expect(requests()).toBe(before);
  });

  it('styles in a loop are refused; styles built on styles are sent resolved', async () => {
    const loop = writeJob(tempDir(), {
      prompt: '"Brief for {{title}}. {{styles.house}}"',
      tail: 'styles:\n  house: "Clean. {{styles.tone}}"\n  tone: "Warm. {{styles.house}}"\n',
    });
    const refused = await runCli(['preview', loop]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('job.yaml:12: styles.house: styles refer to each other in a loop (styles.house → styles.tone → styles.house)');

    const nested = writeJob(tempDir(), {
      prompt: '"Brief for {{title}}. {{styles.house}}"',
      tail: 'styles:\n  base: "Clean."\n  house: "{{styles.base}} Warm."\n',
    });
    const preview = await runCli(['preview', nested, '--json']);
    expect(preview.code).toBe(0);
    const items = JSON.parse(preview.stdout) as { steps: { prompt: string }[] }[];
    expect(items[0]?.steps[0]?.prompt).toBe('Brief for Kubernetes in production. Clean. Warm.');
  });
});

describe('prompts longer than the model’s context window', () => {
  // 33,000 CJK characters: at least 33,000 tokens, over gemini-2.5-flash-image's 32,768.
  const huge = '漢'.repeat(33_000);
  const imageStep = `    task: image
    model: gemini-2.5-flash-image
    prompt: "Poster: {{title}}"
    output: { file: "images/{{slug}}.png" }
`;
  const rows = [
    ['title', 'slug'],
    ['Short title', 'short'],
    [huge, 'huge-one'],
    ['Another short one', 'another'],
    [`${huge}!`, 'huge-two'],
    ['Last', 'last'],
  ];

  it('validate, estimate and run refuse before any call, saying how many rows and which (line and id)', async () => {
    const dir = tempDir();
    const job = writeJob(dir, { step: imageStep, rows });
    const before = requests();
    for (const args of [
      ['validate', job],
      ['estimate', job],
      ['run', job, '--yes'],
    ]) {
      const result = await runCli(args);
      expect(result.code, args[0]).toBe(2);
      expect(result.stderr).toContain(
        "2 of 5 row(s) have a prompt longer than the model's context window (gemini-2.5-flash-image: 32,768 tokens); Vertex AI refuses such requests, so none was sent.",
      );
      expect(result.stderr).toMatch(
        /posts\.csv:3: item "huge-one": the prompt of step "brief" counts up to 3\d,\d{3} tokens, above the 32,768-token context window of gemini-2\.5-flash-image/,
      );
      expect(result.stderr).toMatch(/posts\.csv:5: item "huge-two": /);
      expect(result.stderr).not.toMatch(/item "(short|another|last)"/);
    }
    expect(existsSync(join(dir, '.genbatch'))).toBe(false);
    expect(requests()).toBe(before);
  });

  it('the same job without those rows runs', async () => {
    const job = writeJob(tempDir(), { step: imageStep, rows: rows.filter((r) => !r[1]?.startsWith('huge')) });
    const result = await runCli(['run', job, '--yes']);
    expect(result.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(result.code).toBe(0);
  });
});
