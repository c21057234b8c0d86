import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../helpers/cli.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { posts, writePostsCsv } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Credentials that go wrong, through the real CLI: a key file that breaks during a run, a password
 * in an endpoint, the demo's placeholder key without --emulator, a credentials file that is not
 * there, a busy emulator port, and a folder run that meets a credentials file.
 */
const tempDir = useTempDir();
let t: TestEmulator;
beforeAll(async () => {
  // Slow answers leave time to break the key file between the first call and the keyed project's first.
  t = await startTestEmulator({ latency_ms: 300 });
});
afterAll(() => t.close());

const requestsOf = (project: string): number => t.stats().projects[project]?.requests ?? 0;
const DAMAGED_PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCdamaged\n-----END PRIVATE KEY-----\n';

function serviceAccount(privateKey: string): string {
  return JSON.stringify({
    type: 'service_account',
    project_id: 'keyed-project',
    client_email: 'run@keyed-project.iam.gserviceaccount.com',
    private_key: privateKey,
  });
}

function writeJob(dir: string, options: { items?: number; credentials?: string; extra?: string } = {}): string {
  writePostsCsv(join(dir, 'posts.csv'), posts(options.items ?? 3));
  const file = join(dir, 'job.yaml');
  writeFileSync(
    file,
    `version: 1
name: faults
input: { file: posts.csv, id: slug }
credentials: ${options.credentials ?? 'credentials.yaml'}
steps:
  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: "Brief for {{title}}"
    max_output_tokens: 1000
${options.extra ?? 'limits: { concurrency: 1, max_attempts: 2 }\n'}`,
  );
  return file;
}

describe('a key file that breaks during a run', () => {
  it('disables its project for the run (as a 403 does): its items move to the other project, none fails, nothing reaches the emulator from it', async () => {
    const dir = tempDir();
    const keyFile = join(dir, 'sa.json');
    writeFileSync(keyFile, serviceAccount(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()));
    // fill-first: `first` takes 3 calls per 2 s, then the next call goes to `keyed`.
    writeFileSync(
      join(dir, 'credentials.yaml'),
      `strategy: fill-first
projects:
  - { name: first, project: first-project, api_key: test-key-first, endpoint: "${t.url}", quotas: { default: { requests: 3, window: 2s } } }
  - { name: keyed, project: keyed-project, key_file: sa.json, endpoint: "${t.url}" }
`,
    );
    const job = writeJob(dir, { items: 6 });
    const run = spawnCli(['run', job, '--yes']);
    // The key file was valid when the run checked it; it is damaged once calls have started.
    await waitUntil(() => requestsOf('first-project') >= 1);
    writeFileSync(keyFile, serviceAccount(DAMAGED_PEM));
    const result = await run.output;

    expect(result.stderr).toMatch(/disabled: project keyed for this run: The key file .*sa\.json of project "keyed" has a private key that does not parse/);
    expect(result.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(result.code).toBe(0);
    expect(requestsOf('keyed-project')).toBe(0);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { counts: Record<string, number>; failures: unknown[] };
    expect(status.counts).toMatchObject({ done: 6, failed: 0 });
    expect(status.failures).toEqual([]);
  });
});

describe('credentials refused before any call', () => {
  it('a password in the endpoint URL: exit 2 naming the line and key; the password appears nowhere', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'credentials.yaml'),
      `projects:\n  - name: a\n    project: a\n    api_key: test-key-a\n    endpoint: "http://deploy:hunter2-secret@127.0.0.1:9"\n`,
    );
    const job = writeJob(dir);
    const result = await runCli(['run', job, '--yes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('credentials.yaml:5: projects[0].endpoint: the URL carries a user name or password');
    expect(result.stderr).toContain('api_key_env');
    expect(result.stderr + result.stdout).not.toContain('hunter2');
    expect(existsSync(join(dir, '.genbatch'))).toBe(false);
  });

  it('the demo’s api_key: emulator without --emulator says to add --emulator (exit 2); with --emulator the job runs', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'credentials.yaml'), 'projects:\n  - name: blog-prod\n    project: blog-prod\n    location: us-central1\n    api_key: emulator\n');
    const job = writeJob(dir);
    const refused = await runCli(['run', job, '--yes']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('credentials.yaml:5: projects[0].api_key: project "blog-prod": api_key is a placeholder');
    // The hint is the command typed, with --emulator (issue 27.3).
    expect(refused.stderr).toContain(`Rehearse offline with:\n  genbatch run ${job} --yes --emulator`);
    expect(refused.stderr).not.toMatch(/ENOTFOUND|Network error/);
    const emulated = await runCli(['run', job, '--yes', '--emulator']);
    expect(emulated.code).toBe(0);
  });

  it('a missing credentials file is named with the job file and line that name it', async () => {
    const job = writeJob(tempDir(), { credentials: 'secrets/nowhere.yaml' });
    const result = await runCli(['validate', job]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/job\.yaml:4: credentials: Credentials file .*secrets\/nowhere\.yaml does not exist\./);
  });

  it('an unknown model suggests the nearest one, with the line', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'credentials.yaml'), `projects:\n  - { name: a, project: a, api_key: test-key-a, endpoint: "${t.url}" }\n`);
    const job = writeJob(dir);
    writeFileSync(job, readFileSync(job, 'utf8').replace('model: gemini-2.5-flash', 'model: gemini-2.5-flsh'));
    const result = await runCli(['validate', job]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('job.yaml:8: steps.brief.model: unknown model "gemini-2.5-flsh" (no price known for it); did you mean "gemini-2.5-flash"?');
  });
});

describe('messages instead of crashes', () => {
  it('a busy emulator port: exit 2, the port named and what to do, no "this is a bug"', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const result = await runCli(['emulator', '--port', String(port)]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`Cannot start the emulator: port ${port} on 127.0.0.1 is already in use`);
      expect(result.stderr).toMatch(/hint: Stop what is using it, or pick another port: genbatch emulator --port \d+/);
      expect(result.stderr).not.toMatch(/bug|crashed|\n\s+at /);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('run DIR skips the credentials file and an emulator config, saying why, and runs the job', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'credentials.yaml'), `projects:\n  - { name: a, project: dir-a, api_key: test-key-a, endpoint: "${t.url}" }\n`);
    writeFileSync(join(dir, 'emulator.yaml'), 'seed: 7\nlatency_ms: 10\n');
    writeJob(dir);
    const result = await runCli(['run', dir, '--yes']);
    expect(result.stderr).toMatch(/Skipping \S*credentials\.yaml: a credentials file \(it lists projects:\), not a job file\./);
    expect(result.stderr).toMatch(/Skipping \S*emulator\.yaml: an emulator config, not a job file\./);
    expect(result.stderr).toMatch(/Ran 1 job\(s\): job\.yaml → 0/);
    expect(result.code).toBe(0);

    const empty = join(dir, 'only-credentials');
    mkdirSync(empty);
    writeFileSync(join(empty, 'credentials.yaml'), readFileSync(join(dir, 'credentials.yaml')));
    const none = await runCli(['run', empty, '--yes']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/No job files in .*only-credentials \(1 other YAML\/JSON file\(s\) skipped\)/);
    expect(readdirSync(empty)).toEqual(['credentials.yaml']);
  });
});
