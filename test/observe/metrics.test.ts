import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { EngineEvents } from '../../src/engine/events.js';
import { createRunMetrics, METRIC_NAMES, serveMetrics, writeMetricsFile, writeMetricsFilePeriodically } from '../../src/observe/metrics.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { parsePromText, sumOf } from './prom-text.js';
import { storeWithRun } from './store-fixture.js';

const tempDir = useTempDir();

function fakeEngine(): EventEmitter<EngineEvents> & { runId: string } {
  return Object.assign(new EventEmitter<EngineEvents>(), { runId: 'run-1' });
}

const usage = (input: number, output: number, thoughts = 0, images = 0) => ({
  inputTokens: input,
  outputTokens: output,
  thoughtsTokens: thoughts,
  images,
  videoSeconds: 0,
  characters: 0,
  cachedTokens: 0,
});

function feed(engine: EventEmitter<EngineEvents>): void {
  engine.emit('run:start', { runId: 'run-1', total: 5, pending: 5, pendingSteps: { brief: 5, hero: 5 }, recovered: 0, steps: ['brief', 'hero'] });
  engine.emit('call:end', {
    itemId: 'a',
    step: 'brief',
    project: 'proj-a',
    model: 'gemini-2.5-flash',
    httpStatus: 200,
    usage: usage(100, 40, 7),
    costUsd: 0.0002,
    durationMs: 300,
  });
  engine.emit('step:done', { itemId: 'a', step: 'brief', project: 'proj-a', costUsd: 0.0002, durationMs: 300, outputs: [] });
  engine.emit('call:end', {
    itemId: 'a',
    step: 'hero',
    project: 'proj-a',
    model: 'gemini-2.5-flash-image',
    httpStatus: 200,
    usage: usage(20, 1290, 0, 1),
    costUsd: 0.039,
    durationMs: 2000,
  });
  engine.emit('step:done', { itemId: 'a', step: 'hero', project: 'proj-a', costUsd: 0.039, durationMs: 2000, outputs: ['images/a.png'] });
  engine.emit('call:end', {
    itemId: 'b',
    step: 'brief',
    project: 'proj-b',
    model: 'gemini-2.5-flash',
    httpStatus: 429,
    errorCode: 'QUOTA_EXHAUSTED',
    usage: usage(0, 0),
    costUsd: 0,
    durationMs: 15,
  });
  engine.emit('project:cooldown', { project: 'proj-b', untilMs: Date.now() + 60_000, reason: 'quota exhausted (429)', perDay: false });
  engine.emit('call:end', {
    itemId: 'b',
    step: 'brief',
    project: 'proj-a',
    model: 'gemini-2.5-flash',
    httpStatus: 200,
    errorCode: 'BAD_RESPONSE',
    usage: usage(100, 5),
    costUsd: 0.00005,
    durationMs: 200,
  });
  engine.emit('step:failed', { itemId: 'b', step: 'brief', code: 'BAD_RESPONSE', message: 'not JSON' });
  engine.emit('project:disabled', { project: 'proj-c', reason: 'credential rejected (403)' });
  engine.emit('run:end', {
    runId: 'run-1',
    outcome: 'failed_items',
    exitCode: 1,
    counts: { pending: 0, running: 0, done: 2, failed: 1, filtered: 0 },
    costUsd: 0.03925,
    requests: 4,
    unsettledCalls: 0,
    unsettledMaxUsd: 0,
    durationMs: 4500,
  });
}

describe('run metrics', () => {
  it('counts requests, tokens, cost, cooldowns and step outcomes from the engine events', async () => {
    const engine = fakeEngine();
    const { registry, detach } = createRunMetrics(engine, undefined, { job: 'blog' });
    // Before the run ends there is no exit code (a 0 would claim success).
    expect(await registry.metrics()).not.toMatch(/genbatch_run_(exit_code|end_timestamp_seconds|duration_seconds)/);
    feed(engine);
    detach();
    engine.emit('call:end', {
      itemId: 'z',
      step: 'brief',
      project: 'proj-a',
      model: 'gemini-2.5-flash',
      httpStatus: 200,
      usage: usage(1, 1),
      costUsd: 1,
      durationMs: 1,
    });

    const text = await registry.metrics();
    const samples = parsePromText(text);
    for (const s of samples) expect(s.labels.genbatch_job).toBe('blog');
    expect(sumOf(samples, 'genbatch_requests_total')).toBe(4);
    expect(sumOf(samples, 'genbatch_requests_total', { project: 'proj-a', model: 'gemini-2.5-flash', status: '200' })).toBe(2);
    expect(sumOf(samples, 'genbatch_requests_total', { project: 'proj-b', status: '429' })).toBe(1);
    expect(sumOf(samples, 'genbatch_tokens_total', { kind: 'input' })).toBe(220);
    expect(sumOf(samples, 'genbatch_tokens_total', { kind: 'output', model: 'gemini-2.5-flash-image' })).toBe(1290);
    expect(sumOf(samples, 'genbatch_tokens_total', { kind: 'thoughts' })).toBe(7);
    expect(sumOf(samples, 'genbatch_cost_usd_total')).toBeCloseTo(0.03925, 9);
    expect(sumOf(samples, 'genbatch_images_total')).toBe(1);
    expect(sumOf(samples, 'genbatch_call_duration_seconds_count')).toBe(4);
    expect(sumOf(samples, 'genbatch_cooldowns_total', { project: 'proj-b' })).toBe(1);
    expect(sumOf(samples, 'genbatch_steps_total', { outcome: 'done' })).toBe(2);
    expect(sumOf(samples, 'genbatch_steps_total', { step: 'brief', outcome: 'failed' })).toBe(1);
    expect(sumOf(samples, 'genbatch_project_state', { project: 'proj-b', state: 'cooling' })).toBe(1);
    expect(sumOf(samples, 'genbatch_project_state', { project: 'proj-b' })).toBe(1);
    expect(sumOf(samples, 'genbatch_project_state', { project: 'proj-c', state: 'disabled' })).toBe(1);
    expect(sumOf(samples, 'genbatch_run_exit_code')).toBe(1);
    expect(sumOf(samples, 'genbatch_run_duration_seconds')).toBe(4.5);
    expect(sumOf(samples, 'genbatch_run_end_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    // Without a store there is no item gauge.
    expect(text).not.toContain('genbatch_items{');
    // Every documented name is registered (items only with a store).
    for (const name of METRIC_NAMES) if (name !== 'genbatch_items') expect(text).toContain(`# TYPE ${name} `);
  });

  it('reads genbatch_items{state} from the state file at each scrape', async () => {
    const store = storeWithRun(tempDir());
    try {
      const { registry } = createRunMetrics(fakeEngine(), store);
      let samples = parsePromText(await registry.metrics());
      expect(['pending', 'running', 'done', 'failed', 'filtered'].map((state) => sumOf(samples, 'genbatch_items', { state }))).toEqual([1, 0, 2, 1, 1]);
      store.completeStep('e', 'brief', { result: {}, outputs: [], promptHash: 'p', costUsd: 0 });
      samples = parsePromText(await registry.metrics());
      expect(sumOf(samples, 'genbatch_items', { state: 'done' })).toBe(3);
      // After the store is closed, the last values stay.
      store.close();
      samples = parsePromText(await registry.metrics());
      expect(sumOf(samples, 'genbatch_items', { state: 'done' })).toBe(3);
    } finally {
      store.close();
    }
  });

  it('takes project health from the engine itself when it can report it', async () => {
    const engine = Object.assign(fakeEngine(), {
      projects: () => [
        { name: 'p1', state: 'probing' as const, requests: 0, rejected429: 0, costUsd: 0 },
        { name: 'p2', state: 'active' as const, requests: 0, rejected429: 0, costUsd: 0 },
      ],
    });
    const { registry } = createRunMetrics(engine);
    const samples = parsePromText(await registry.metrics());
    expect(sumOf(samples, 'genbatch_project_state', { project: 'p1', state: 'probing' })).toBe(1);
    expect(sumOf(samples, 'genbatch_project_state', { project: 'p2', state: 'active' })).toBe(1);
    expect(sumOf(samples, 'genbatch_project_state')).toBe(2);
  });

  it('serves /metrics over HTTP and nothing else', async () => {
    const engine = fakeEngine();
    const { registry } = createRunMetrics(engine);
    const server = await serveMetrics(registry, 0);
    try {
      feed(engine);
      const response = await fetch(server.url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(sumOf(parsePromText(await response.text()), 'genbatch_requests_total')).toBe(4);
      expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(404);
      await expect(serveMetrics(registry, server.port)).rejects.toThrow(/port is in use/);
    } finally {
      await server.close();
    }
  });

  it('writes the textfile atomically: every read sees a whole, parseable file and no temp file is left', async () => {
    const dir = tempDir();
    const file = join(dir, 'textfile', 'genbatch_blog.prom');
    const engine = fakeEngine();
    const { registry } = createRunMetrics(engine, undefined, { job: 'blog' });
    feed(engine);
    await writeMetricsFile(registry, file);
    const expected = sumOf(parsePromText(readFileSync(file, 'utf8')), 'genbatch_requests_total');
    expect(expected).toBe(4);

    // Readers racing 30 rewrites never see a partial file.
    let reads = 0;
    let writing = true;
    const reader = (async () => {
      while (writing) {
        const samples = parsePromText(readFileSync(file, 'utf8'));
        expect(sumOf(samples, 'genbatch_requests_total')).toBeGreaterThanOrEqual(expected);
        reads += 1;
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 30; i += 1) {
      engine.emit('call:end', {
        itemId: `x${i}`,
        step: 'brief',
        project: 'proj-a',
        model: 'gemini-2.5-flash',
        httpStatus: 200,
        usage: usage(1, 1),
        costUsd: 0,
        durationMs: 1,
      });
      await writeMetricsFile(registry, file);
    }
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(sumOf(parsePromText(readFileSync(file, 'utf8')), 'genbatch_requests_total')).toBe(34);
    expect(readdirSync(join(dir, 'textfile'))).toEqual(['genbatch_blog.prom']);
  });

  it('keeps the textfile current during a long run and writes it once more at the end', async () => {
    const dir = tempDir();
    const file = join(dir, 'genbatch.prom');
    const engine = fakeEngine();
    const { registry } = createRunMetrics(engine);
    const errors: unknown[] = [];
    // The interval in fake time; each write is real file I/O, awaited by looking at the file (no fixed sleep).
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const requests = (): number | undefined => (existsSync(file) ? sumOf(parsePromText(readFileSync(file, 'utf8')), 'genbatch_requests_total') : undefined);
    const stop = writeMetricsFilePeriodically(registry, file, 15_000, (e) => errors.push(e));
    // Written at once, then again every interval while the run goes on.
    await vi.waitFor(() => expect(requests()).toBe(0), { interval: 5 });
    feed(engine);
    vi.advanceTimersByTime(15_000);
    await vi.waitFor(() => expect(requests()).toBe(4), { interval: 5 });
    await stop();
    expect(sumOf(parsePromText(readFileSync(file, 'utf8')), 'genbatch_requests_total')).toBe(4);
    expect(errors).toEqual([]);
    expect(readdirSync(dir)).toEqual(['genbatch.prom']);
  });

  it('adds up several passes (a pilot, then the main run) on one registry', async () => {
    const pilot = fakeEngine();
    const metrics = createRunMetrics(undefined, undefined, { job: 'blog' });
    const stopPilot = metrics.attach(pilot);
    feed(pilot);
    stopPilot();
    const main = fakeEngine();
    metrics.attach(main);
    main.emit('run:start', { runId: 'run-2', total: 5, pending: 3, pendingSteps: { brief: 3, hero: 3 }, recovered: 0, steps: ['brief', 'hero'] });
    let samples = parsePromText(await metrics.registry.metrics());
    expect(sumOf(samples, 'genbatch_requests_total')).toBe(4);
    expect(samples.some((s) => s.name === 'genbatch_run_exit_code')).toBe(false);
    main.emit('call:end', {
      itemId: 'c',
      step: 'brief',
      project: 'proj-a',
      model: 'gemini-2.5-flash',
      httpStatus: 200,
      usage: usage(1, 1),
      costUsd: 0,
      durationMs: 1,
    });
    main.emit('run:end', {
      runId: 'run-2',
      outcome: 'finished',
      exitCode: 0,
      counts: { pending: 0, running: 0, done: 3, failed: 0, filtered: 0 },
      costUsd: 0,
      requests: 5,
      unsettledCalls: 0,
      unsettledMaxUsd: 0,
      durationMs: 100,
    });
    pilot.emit('call:end', {
      itemId: 'z',
      step: 'brief',
      project: 'proj-a',
      model: 'gemini-2.5-flash',
      httpStatus: 200,
      usage: usage(1, 1),
      costUsd: 0,
      durationMs: 1,
    });
    metrics.detach();
    main.emit('call:end', {
      itemId: 'z',
      step: 'brief',
      project: 'proj-a',
      model: 'gemini-2.5-flash',
      httpStatus: 200,
      usage: usage(1, 1),
      costUsd: 0,
      durationMs: 1,
    });
    samples = parsePromText(await metrics.registry.metrics());
    expect(sumOf(samples, 'genbatch_requests_total')).toBe(5);
    expect(sumOf(samples, 'genbatch_run_exit_code')).toBe(0);
    expect(samples.filter((s) => s.name === 'genbatch_run_exit_code')).toHaveLength(1);
  });
});
