import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { prepareJob } from '../../src/engine/prepare-job.js';
import { syncItems } from '../../src/input/index.js';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { createRunMetrics } from '../../src/observe/metrics.js';
import { secretsOf } from '../../src/observe/redact.js';
import { attachRunLog, runLogPath } from '../../src/observe/run-log.js';
import { StateStore } from '../../src/store/state-store.js';
import { writeJobFixture } from '../helpers/job-fixture.js';
import { readStateFile } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { parsePromText, sumOf, type Sample } from './prom-text.js';

const tempDir = useTempDir();
const ITEMS = 6;

interface Observed {
  samples: Sample[];
  logLines: Record<string, unknown>[];
  logText: string;
  apiKeys: string[];
  callEnds: number;
  cooldownEvents: number;
  ledger: { n: number; cost: number; input: number; output: number; n429: number };
}

let emulator: RunningEmulator | undefined;
let observed: Observed;

/** A real Engine (real SDK, real SQLite) against the emulator over HTTP, with the log and metrics attached. */
beforeAll(async () => {
  // proj-b takes 2 requests a second; the others are rejected with 429, so there are cooldowns to count.
  emulator = await startEmulator(parseEmulatorConfig({ seed: 4, latency_ms: 5, projects: { 'proj-b': { requests: 2, window: '1s' } } }), { port: 0 });
  const dir = tempDir();
  const jobFile = writeJobFixture(dir, { endpoint: emulator.url, items: ITEMS, concurrency: 4 });
  const prepared = await prepareJob(jobFile);
  const store = StateStore.open(prepared.job.stateFile);
  try {
    const engine = new Engine({ job: prepared.job, credentials: prepared.credentials, store, catalog: prepared.catalog });
    await syncItems(prepared.job, store, engine.runId);
    const apiKeys = secretsOf(prepared.credentials);
    const log = attachRunLog(engine, { job: prepared.job, secrets: apiKeys });
    const metrics = createRunMetrics(engine, store, { job: prepared.job.name });
    let callEnds = 0;
    let cooldownEvents = 0;
    engine.on('call:end', () => (callEnds += 1));
    engine.on('project:cooldown', () => (cooldownEvents += 1));
    const summary = await engine.run();
    expect(summary.exitCode).toBe(0);
    const samples = parsePromText(await metrics.registry.metrics());
    log.close();
    metrics.detach();
    expect(log.file).toBe(runLogPath(prepared.job, engine.runId));
    const logText = readFileSync(log.file, 'utf8');
    const ledger = readStateFile(store.file, (db) =>
      db
        .prepare(
          'SELECT count(*) AS n, sum(cost_usd) AS cost, sum(input_tokens) AS input, sum(output_tokens) AS output, sum(http_status = 429) AS n429 FROM ledger',
        )
        .get(),
    ) as Observed['ledger'];
    observed = {
      samples,
      logText,
      logLines: logText
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
      apiKeys,
      callEnds,
      cooldownEvents,
      ledger,
    };
  } finally {
    store.close();
  }
});
afterAll(async () => {
  await emulator?.close();
});

describe('log and metrics on a real run', () => {
  it('logs every finished step and the run end, without the API keys', () => {
    const { logLines, logText, apiKeys } = observed;
    expect(apiKeys.length).toBeGreaterThan(0);
    for (const key of apiKeys) expect(logText).not.toContain(key);
    expect(logLines.filter((l) => l.event === 'step:done')).toHaveLength(ITEMS * 2);
    expect(logLines.filter((l) => l.event === 'project:cooldown')).toHaveLength(observed.cooldownEvents);
    expect(logLines.at(-1)).toMatchObject({ event: 'run:end', outcome: 'finished', exit_code: 0, job: 'test-job' });
    expect(logLines.find((l) => l.event === 'step:done')).toMatchObject({
      item_id: expect.any(String),
      step: expect.stringMatching(/^(brief|hero)$/),
      project: expect.stringMatching(/^proj-/),
    });
  });

  it('exports items, steps, cooldowns and the run end', () => {
    const { samples } = observed;
    expect(sumOf(samples, 'genbatch_items', { state: 'done' })).toBe(ITEMS);
    expect(sumOf(samples, 'genbatch_items')).toBe(ITEMS);
    expect(sumOf(samples, 'genbatch_steps_total', { outcome: 'done' })).toBe(ITEMS * 2);
    expect(observed.cooldownEvents).toBeGreaterThan(0);
    expect(sumOf(samples, 'genbatch_cooldowns_total')).toBe(observed.cooldownEvents);
    expect(sumOf(samples, 'genbatch_run_exit_code')).toBe(0);
    expect(sumOf(samples, 'genbatch_project_state', { state: 'disabled' })).toBe(0);
    expect(new Set(samples.filter((s) => s.name === 'genbatch_project_state').map((s) => s.labels.project))).toEqual(new Set(['proj-a', 'proj-b']));
  });

  it('counts every call of the ledger (call:end), with tokens and cost', () => {
    const { samples, ledger } = observed;
    expect(ledger.n).toBeGreaterThan(ITEMS * 2);
    expect(observed.callEnds).toBe(ledger.n);
    expect(sumOf(samples, 'genbatch_requests_total')).toBe(ledger.n);
    expect(sumOf(samples, 'genbatch_requests_total', { status: '429' })).toBe(ledger.n429);
    expect(sumOf(samples, 'genbatch_tokens_total', { kind: 'input' })).toBe(ledger.input);
    expect(sumOf(samples, 'genbatch_tokens_total', { kind: 'output' })).toBe(ledger.output);
    expect(sumOf(samples, 'genbatch_cost_usd_total')).toBeCloseTo(ledger.cost, 9);
    expect(sumOf(samples, 'genbatch_images_total', { model: 'gemini-2.5-flash-image' })).toBe(ITEMS);
  });
});
