import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, estimateJob, loadJob, openState, runJob, type EngineEvents } from '../../src/index.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { writeJobFixture } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: TestEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const requests = (e: TestEmulator): number => Object.values(e.stats().projects).reduce((n, p) => n + p.requests, 0);

describe("genbatch's library API", () => {
  it('loadJob, estimateJob and runJob: typed events, the summary, and the calls the emulator counted', async () => {
    emulator = await startTestEmulator();
    const file = writeJobFixture(tempDir(), { items: 6, endpoint: emulator.url, imageStep: false });
    const job = await loadJob(file);
    expect(job.job.name).toBe('test-job');
    expect(job.rows).toBe(6);
    const estimate = await estimateJob(job);
    expect(estimate.remaining_items).toBe(6);
    expect(requests(emulator)).toBe(0);

    const run = runJob(job);
    const done: EngineEvents['step:done'][0][] = [];
    run.on('step:done', (e) => done.push(e));
    let started = 0;
    run.on('run:start', (e) => (started = e.pending));
    const summary = await run;
    expect(summary).toMatchObject({ job: 'test-job', outcome: 'finished', exitCode: 0, total: 6 });
    expect(summary.items.done).toBe(6);
    expect(started).toBe(6);
    expect(done.map((e) => e.itemId).sort()).toHaveLength(6);
    expect(requests(emulator)).toBe(6);
    expect(summary.spentUsd).toBeGreaterThan(0);

    // A second run has nothing to do and sends nothing.
    const again = await runJob(file);
    expect(again).toMatchObject({ outcome: 'finished', exitCode: 0, spentUsd: 0 });
    expect(requests(emulator)).toBe(6);
  });

  it('an AbortSignal stops the run: outcome cancelled (exit 4), the rest left pending for the next run', async () => {
    emulator = await startTestEmulator({ latency_ms: 20 });
    const file = writeJobFixture(tempDir(), { items: 40, endpoint: emulator.url, imageStep: false, concurrency: 1 });
    const controller = new AbortController();
    const run = runJob(file, { signal: controller.signal });
    run.on('step:done', () => controller.abort());
    const summary = await run;
    expect(summary).toMatchObject({ outcome: 'cancelled', exitCode: 4 });
    expect(summary.items.done).toBeGreaterThanOrEqual(1);
    expect(summary.items.done).toBeLessThan(40);
    const sent = requests(emulator);
    expect(sent).toBe(summary.items.done);
    const rest = await runJob(file);
    expect(rest).toMatchObject({ outcome: 'finished', exitCode: 0 });
    expect(rest.items.done).toBe(40);
    expect(requests(emulator)).toBe(40);
  });

  it('openState: status, reject with a note and approve write the state file; retryRejected puts them back to pending', async () => {
    emulator = await startTestEmulator();
    const file = writeJobFixture(tempDir(), { items: 3, endpoint: emulator.url, imageStep: false });
    await runJob(file);
    const state = await openState(file);
    try {
      expect(state.status().counts.done).toBe(3);
      expect(state.reject(['kubernetes-1'], { note: 'too dark' }).items).toBe(1);
      state.approve(['terraform-2']);
      expect(state.rejectedIds()).toEqual(['kubernetes-1']);
      expect(state.approvedIds()).toEqual(['terraform-2']);
      expect(state.item('kubernetes-1')?.values.title).toMatch(/^Kubernetes/);
      expect(state.store.rejectedSteps()).toMatchObject([{ itemId: 'kubernetes-1', step: 'brief', note: 'too dark' }]);
      expect(state.retryRejected()).toBe(1);
      expect(state.status().counts.pending).toBe(1);
    } finally {
      state.close();
    }
    const rerun = await runJob(file);
    expect(rerun.items.done).toBe(3);
    expect(requests(emulator)).toBe(4);
  });

  it('errors are the typed ones the CLI reports', async () => {
    const dir = tempDir();
    await expect(loadJob(join(dir, 'missing.yaml'))).rejects.toBeInstanceOf(ConfigError);
    emulator = await startTestEmulator();
    const file = writeJobFixture(dir, { items: 2, endpoint: emulator.url, imageStep: false });
    await expect(openState(file)).rejects.toMatchObject({ code: 'NO_STATE', exitCode: 2 });
    expect(existsSync(join(dir, '.genbatch'))).toBe(false);
  });
});
