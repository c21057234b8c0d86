import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, NOTE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { readStateFile } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Batch staging: `validate` refuses a batch step that a project cannot stage for (no Cloud Storage
 * location, or only an API key, which cannot reach Cloud Storage) before anything is spent; at run
 * time a staging failure stops only the batch step, and the run's online steps go on.
 */

const BATCH_BRIEF = `${BRIEF_STEP}    mode: batch\n`;

function credentialsWithKeyOnly(file: string): void {
  // p1 uses Application Default Credentials; p2 has only an API key and Google's own endpoint: model calls work, Cloud Storage does not.
  writeFileSync(
    file,
    `projects:
  - { name: p1, project: p1, location: us-central1, adc: true, staging_bucket: "gs://p1-staging" }
  - { name: p2, project: p2, location: us-central1, api_key: AIzaSyA-not-a-real-key-000000000000000 }
`,
  );
}

describe('batch staging', () => {
  const tempDir = useTempDir();
  let t: TestEmulator | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('validate refuses a batch step on a project with only an api_key, naming the project and the key, exit 2', async () => {
    const dir = tempDir();
    credentialsWithKeyOnly(join(dir, 'credentials.yaml'));
    const job = writeJob(dir, { items: 3, steps: BATCH_BRIEF, limits: '{ concurrency: 2 }', extra: 'batch: { staging: "gs://staging-bucket/x" }' });
    const result = await runCli(['validate', job]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(
      /credentials\.yaml: projects\[1\]\.api_key: project "p2" has only an API key, which cannot reach Cloud Storage; step "brief" runs in batch and stages its files in gs:\/\/staging-bucket\/x/,
    );
    expect(result.stderr).toContain('key_file');
    expect(result.stderr).not.toContain('AIzaSyA-not-a-real-key');

    // The same projects with an online step only: valid.
    const online = writeJob(dir, { items: 3, steps: BRIEF_STEP, limits: '{ concurrency: 2 }' });
    const fine = await runCli(['validate', online]);
    expect(fine.code, fine.stderr).toBe(0);
  }, 30_000);

  it('validate refuses a batch step with no staging location for a project, exit 2', async () => {
    t = await startTestEmulator({});
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), t.url, [{ name: 'p1' }, { name: 'p2', extra: 'staging_bucket: "gs://p2-staging"' }]);
    const job = writeJob(dir, { items: 3, steps: BATCH_BRIEF, limits: '{ concurrency: 2 }' });
    const result = await runCli(['validate', job]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/steps\.brief\.mode: step "brief" runs in batch, and project "p1" has no Cloud Storage location to stage its batch files in/);
    expect(result.stderr).not.toContain('project "p2" has no');
  }, 30_000);

  it('a staging failure at run time stops the batch step only: the online step finishes every item', async () => {
    t = await startTestEmulator({ seed: 4, latency_ms: 15, batch: { queue_ms: 40, run_ms: 100 } });
    const dir = tempDir();
    // The batch step's pool has one project whose endpoint (and so Cloud Storage) is unreachable.
    writeCredentials(join(dir, 'credentials.yaml'), t.url, [{ name: 'p1', extra: 'pool: web' }]);
    writeFileSync(
      join(dir, 'credentials.yaml'),
      `${readCreds(dir)}  - { name: p2, project: p2, location: us-central1, api_key: secret-key-p2, endpoint: "http://127.0.0.1:9", pool: nightly }\n`,
    );
    const steps = `${NOTE_STEP}    pool: web\n${BATCH_BRIEF}    pool: nightly\n`;
    const job = writeJob(dir, {
      items: 20,
      steps,
      limits: '{ concurrency: 2, max_attempts: 3 }',
      extra: 'batch: { staging: "gs://staging-bucket/x", max_requests: 5, poll: 100ms }',
    });
    const state = join(dir, '.genbatch', 'quota-job.db');
    const result = await runCli(['run', job, '--yes', '--plain']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('batch step brief stopped (BATCH_STAGING_FAILED)');
    expect(result.stderr).toMatch(/Batch step "brief" stopped: uploading the batch input to gs:\/\/staging-bucket\/x\/.* on project "p2" failed/);
    const byStep = readStateFile(state, (db) =>
      Object.fromEntries(
        (db.prepare('SELECT step, state, count(*) AS n FROM item_steps GROUP BY step, state').all() as { step: string; state: string; n: number }[]).map(
          (r) => [`${r.step}:${r.state}`, r.n],
        ),
      ),
    );
    // Every note was made; every brief is pending for the next run (nothing was submitted).
    expect(byStep).toEqual({ 'note:done': 20, 'brief:pending': 20 });
    const stats = Object.values(t.emu.stats().projects);
    expect(stats.reduce((n, p) => n + p.batch_jobs, 0)).toBe(0);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { last_run: { outcome: string; exit_code: number } };
    expect(status.last_run).toMatchObject({ outcome: 'batch_stopped', exit_code: 1 });
  }, 90_000);
});

function readCreds(dir: string): string {
  return readFileSync(join(dir, 'credentials.yaml'), 'utf8');
}
