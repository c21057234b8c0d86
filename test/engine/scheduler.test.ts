import { join } from 'node:path';
import type { GoogleGenAI } from '@google/genai';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ProjectCredentials } from '../../src/credentials/credentials.js';
import { ProjectPool, type Lease } from '../../src/coordination/project-pool.js';
import type { EngineEvents } from '../../src/engine/events.js';
import type {
  ParkedOperation,
  PollOutcome,
  PreparedCall,
  ResumedOperation,
  Settled,
  Settlement,
  StepExecutor,
} from '../../src/engine/executors/step-executor.js';
import type { RenderedStep } from '../../src/engine/render-step.js';
import { Scheduler, type SchedulerOutcome } from '../../src/engine/scheduler.js';
import type { Unit } from '../../src/engine/unit.js';
import type { Job, Step } from '../../src/job/job.js';
import type { ProviderRequest } from '../../src/providers/provider.js';
import { StateStore, type ItemRow } from '../../src/store/state-store.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * The scheduler with a real StateStore and a real ProjectPool, but a fake StepExecutor (the seam):
 * it records calls and returns verdicts, moving the store through the same transitions as the real
 * one. The scheduler, the pool's limiters (Bottleneck) and the stall watch read Date.now and sleep
 * with setTimeout; faking those runs every scenario in fake time, without real sleeps.
 */
// performance too: stalls are measured on the monotonic clock.
const FAKED = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] as const;
const T0 = Date.UTC(2025, 5, 10, 12, 0, 0);
const RUN_ID = 'run-test';
const TEXT_MODEL = 'gemini-2.5-flash';
const IMAGE_MODEL = 'imagen-4.0-generate-001';
const VIDEO_MODEL = 'veo-3.0-generate-001';

const tempDir = useTempDir();
const stores: StateStore[] = [];

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKED], now: T0 });
});

afterEach(() => {
  vi.useRealTimers();
  for (const store of stores.splice(0)) store.close();
});

// ---- building blocks ---------------------------------------------------------------------------

function step(name: string, model: string, over: Partial<Step> = {}): Step {
  return { name, task: 'text', model, prompt: `${name} for {{slug}}`, params: {}, maxAttempts: 3, timeoutMs: 60_000, ...over };
}

function makeJob(steps: Step[], limits: Partial<Job['limits']> = {}): Job {
  return {
    file: '/jobs/job.yaml',
    dir: '/jobs',
    name: 'scheduler-test',
    input: { file: '/jobs/in.csv', id: 'slug', delimiter: ',', onBadRow: 'fail' },
    credentialsFile: '/jobs/credentials.yaml',
    stateFile: '/jobs/state.db',
    outputDir: '/jobs/out',
    steps,
    styles: {},
    limits: { concurrency: 2, maxAttempts: 3, maxStallMs: 5_000, timeoutMs: 60_000, maxOutageMs: 600_000, ...limits },
    budget: { confirmAboveUsd: 0 },
  };
}

function project(name: string, pool = 'default'): ProjectCredentials {
  return {
    name,
    project: `gcp-${name}`,
    location: 'us-central1',
    auth: { kind: 'api_key', apiKey: `key-${name}`, source: 'file' },
    quotas: {},
    pool,
    enabled: true,
  };
}

function makePool(projects: ProjectCredentials[]): ProjectPool {
  return new ProjectPool(
    { file: '/jobs/credentials.yaml', strategy: 'round-robin', projects },
    { createClient: (p) => ({ project: p.name }) as unknown as GoogleGenAI },
  );
}

function makeStore(job: Job, ids: string[]): StateStore {
  const store = StateStore.open(join(tempDir(), 'state.db'));
  stores.push(store);
  const items: ItemRow[] = ids.map((id, ord) => ({ id, ord, line: ord + 2, values: { slug: id }, inputHash: `h-${id}` }));
  store.upsertItems(
    items,
    job.steps.map((s) => s.name),
    RUN_ID,
  );
  return store;
}

/** What the fake executor is told to do with a call: a verdict, or `park` (start an operation). */
type Behaviour = (unit: Unit, nth: number) => FakeVerdict | Promise<FakeVerdict>;
type FakeVerdict = { kind: 'done' } | { kind: 'failed' } | { kind: 'retry'; delayMs: number } | { kind: 'requeue' } | { kind: 'park' };
type PollBehaviour = (operation: ParkedOperation, nth: number) => 'running' | 'done';

interface CallRecord {
  itemId: string;
  step: string;
  project: string;
  probe: boolean;
  at: number;
}

/** The seam: records every call, returns verdicts from `behave`, and checkpoints like the real executor. */
class FakeExecutor implements StepExecutor {
  readonly calls: CallRecord[] = [];
  readonly polls: { operationName: string; client: GoogleGenAI; at: number; executing: number }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private readonly nth = new Map<string, number>();

  constructor(
    private readonly store: StateStore,
    private readonly pool: ProjectPool,
    private readonly behave: Behaviour,
    private readonly pollBehave: PollBehaviour = () => 'done',
    private readonly pollDelay = 2_000,
  ) {}

  batchSize(): number {
    return 1;
  }

  private request(unit: Unit): ProviderRequest {
    return { task: unit.step.task, model: unit.step.model, prompt: `${unit.step.name} for ${unit.item.id}`, params: {} };
  }

  prepare(units: Unit[]): { call: PreparedCall | undefined; rejected: Settled[] } {
    const first = units[0];
    if (!first) return { call: undefined, rejected: [] };
    return {
      call: {
        step: first.step,
        live: units.map((unit) => ({ unit, rendered: { request: this.request(unit), promptHash: `ph-${unit.item.id}`, post: [] } satisfies RenderedStep })),
        request: this.request(first),
        worstCaseUsd: 0,
        estimatedTokens: 0,
      },
      rejected: [],
    };
  }

  async execute(call: PreparedCall, lease: Lease): Promise<Settlement> {
    const { step, live } = call;
    const unit = (live[0] as PreparedCall['live'][number]).unit;
    const key = `${unit.item.id}/${step.name}`;
    const nth = (this.nth.get(key) ?? 0) + 1;
    this.nth.set(key, nth);
    this.calls.push({ itemId: unit.item.id, step: step.name, project: lease.project.name, probe: lease.probe, at: Date.now() });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      for (const l of live) this.store.markRunning(l.unit.item.id, step.name, RUN_ID, lease.project.name);
      const verdict = await this.behave(unit, nth);
      lease.release();
      const id = unit.item.id;
      switch (verdict.kind) {
        case 'done':
          this.pool.succeeded(lease.project.name, step.model, 0);
          this.store.completeStep(
            id,
            step.name,
            { result: { text: `${step.name} of ${id}` }, outputs: [], promptHash: `ph-${id}`, costUsd: 0 },
            undefined,
            RUN_ID,
          );
          unit.context.steps[step.name] = { text: `${step.name} of ${id}` };
          return { settled: [{ unit, verdict }], spentUsd: 0 };
        case 'failed':
          this.store.finishStep(id, step.name, 'failed', { code: 'TEST_FAILED', message: 'failed on purpose' }, undefined, RUN_ID);
          return { settled: [{ unit, verdict }], spentUsd: 0 };
        case 'retry':
          unit.attempts += 1;
          this.store.markPending(id, step.name, { countAttempt: true, errorCode: 'TRANSIENT', errorMessage: 'try again', runId: RUN_ID });
          return { settled: [{ unit, verdict }], spentUsd: 0 };
        case 'requeue':
          this.store.markPending(id, step.name, { countAttempt: false, errorCode: 'QUOTA', errorMessage: '429', runId: RUN_ID });
          return { settled: [{ unit, verdict }], spentUsd: 0 };
        case 'park': {
          const operationName = `operations/op-${id}`;
          this.store.setOperationName(id, step.name, operationName, RUN_ID);
          const operation: ParkedOperation = { call, operationName, project: lease.project.name, startedAt: Date.now() };
          return { settled: [{ unit, verdict: { kind: 'parked', operation } }], spentUsd: undefined };
        }
      }
    } finally {
      lease.release();
      this.inFlight -= 1;
    }
  }

  resumeOperation(): ResumedOperation | Settled[] {
    throw new Error('not used by these tests');
  }

  async poll(operation: ParkedOperation, client: GoogleGenAI): Promise<PollOutcome> {
    const n = this.polls.filter((p) => p.operationName === operation.operationName).length + 1;
    this.polls.push({ operationName: operation.operationName, client, at: Date.now(), executing: this.inFlight });
    if (this.pollBehave(operation, n) === 'running') return { kind: 'running' };
    const { call } = operation;
    for (const l of call.live) {
      this.store.setOperationName(l.unit.item.id, call.step.name, null, RUN_ID);
      this.store.completeStep(
        l.unit.item.id,
        call.step.name,
        { result: { file: 'clip.mp4' }, outputs: ['clip.mp4'], promptHash: 'ph', costUsd: 0 },
        undefined,
        RUN_ID,
      );
    }
    return { kind: 'settled', settled: call.live.map((l) => ({ unit: l.unit, verdict: { kind: 'done' } })), spentUsd: 0 };
  }

  pollsExhausted(operation: ParkedOperation): Promise<Settlement> {
    return Promise.resolve({ settled: operation.call.live.map((l) => ({ unit: l.unit, verdict: { kind: 'failed' } })), spentUsd: 0 });
  }

  pollDelayMs(): number {
    return this.pollDelay;
  }
}

type Emitted = { [K in keyof EngineEvents]: { event: K; args: EngineEvents[K] } }[keyof EngineEvents];

function makeScheduler(job: Job, store: StateStore, pool: ProjectPool, executor: StepExecutor, signal = new AbortController().signal) {
  const events: Emitted[] = [];
  const scheduler = new Scheduler({
    job,
    store,
    pool,
    executor,
    budget: undefined,
    limit: undefined,
    signal,
    emit: (event, ...args) => events.push({ event, args } as Emitted),
    onBudgetRefused: () => {
      throw new Error('no budget in these tests');
    },
    onStop: (error) => {
      throw error;
    },
  });
  return { scheduler, events };
}

/** Starts run() and records how it ended, without awaiting it (time only moves when the test says). */
function start(scheduler: Scheduler) {
  const state: { done: boolean; outcome: SchedulerOutcome | undefined; error: unknown; endedAt: number | undefined } = {
    done: false,
    outcome: undefined,
    error: undefined,
    endedAt: undefined,
  };
  scheduler.run().then(
    (outcome) => Object.assign(state, { done: true, outcome, endedAt: Date.now() }),
    (error: unknown) => Object.assign(state, { done: true, error, endedAt: Date.now() }),
  );
  return state;
}

/** Moves fake time in small steps until `condition` holds; fails if it does not within `maxMs` of fake time. */
async function until(condition: () => boolean, maxMs = 120_000, stepMs = 10): Promise<void> {
  for (let waited = 0; !condition(); waited += stepMs) {
    if (waited >= maxMs) throw new Error(`condition not met after ${maxMs} ms of fake time`);
    await vi.advanceTimersByTimeAsync(stepMs);
  }
}

/** Calls held open by the test: each resolves when the test says. */
function holder() {
  const held: { itemId: string; resolve: (v: FakeVerdict) => void; reject: (e: unknown) => void }[] = [];
  const behave = (unit: Unit): Promise<FakeVerdict> =>
    new Promise((resolve, reject) => {
      held.push({ itemId: unit.item.id, resolve, reject });
    });
  return { held, behave };
}

function stepState(store: StateStore, itemId: string, stepName: string): string | undefined {
  return store.itemSteps(itemId).find((s) => s.step === stepName)?.state;
}

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `item-${i}`);

// ---- scenarios -----------------------------------------------------------------------------------

describe('Scheduler: lanes and stalls', () => {
  it('(a) step 1 runs for every item while step 2 waits on a cooling pool; then the run stalls naming that lane', async () => {
    const job = makeJob([step('brief', TEXT_MODEL, { pool: 'text' }), step('hero', IMAGE_MODEL, { pool: 'images', task: 'image' })], {
      concurrency: 1,
      maxStallMs: 5_000,
    });
    const store = makeStore(job, ids(3));
    const pool = makePool([project('t1', 'text'), project('i1', 'images')]);
    const cooledUntil = pool.cooldown('i1', IMAGE_MODEL, { reason: 'quota exhausted (429)', retryAfterMs: 3_600_000 });
    // Each brief takes 4 s of (fake) time: 12 s of progress in all, longer than maxStallMs.
    const executor = new FakeExecutor(store, pool, () => new Promise((resolve) => setTimeout(() => resolve({ kind: 'done' }), 4_000)));
    const { scheduler, events } = makeScheduler(job, store, pool, executor);
    const run = start(scheduler);
    await until(() => run.done);

    expect(run.error).toBeUndefined();
    expect(executor.calls.map((c) => `${c.itemId}/${c.step}@${c.project}`)).toEqual(['item-0/brief@t1', 'item-1/brief@t1', 'item-2/brief@t1']);
    for (const id of ids(3)) {
      expect(stepState(store, id, 'brief')).toBe('done');
      expect(stepState(store, id, 'hero')).toBe('pending');
    }
    const outcome = run.outcome;
    if (outcome?.kind !== 'stalled') throw new Error(`expected stalled, got ${JSON.stringify(outcome)}`);
    expect(outcome.completed).toEqual({ brief: 3 });
    expect(outcome.lanes).toEqual([
      {
        key: `images/${IMAGE_MODEL}`,
        pool: 'images',
        model: IMAGE_MODEL,
        since: expect.any(Number),
        expectedBackAt: cooledUntil,
        reason: 'every project is cooling down',
      },
    ]);
    expect(outcome.stalledForMs).toBeGreaterThanOrEqual(5_000);
    // The stall was counted from the last progress (the last brief), not from when the images lane first blocked.
    const lastBriefEnded = T0 + 3 * 4_000;
    expect(run.endedAt).toBeGreaterThanOrEqual(lastBriefEnded + 5_000);
    expect(run.endedAt).toBeLessThan(lastBriefEnded + 5_000 + 2_000);
    expect(
      events.some(
        (e) =>
          e.event === 'run:waiting' &&
          e.args[0].reason === `pool "images", model ${IMAGE_MODEL}: every project is cooling down` &&
          e.args[0].untilMs === cooledUntil,
      ),
    ).toBe(true);
  });

  it('progress between two cooldowns restarts the stall clock: waits that each fit in maxStallMs do not add up to a stall', async () => {
    const job = makeJob([step('brief', TEXT_MODEL)], { concurrency: 1, maxStallMs: 15_000 });
    const store = makeStore(job, ['a', 'b']);
    const pool = makePool([project('p1')]);
    pool.cooldown('p1', TEXT_MODEL, { reason: 'quota exhausted (429)', retryAfterMs: 10_000 });
    const executor = new FakeExecutor(store, pool, (unit, nth) => {
      if (unit.item.id === 'b' && nth === 1) {
        // b's first call gets a 429: the project cools down for 10 s again and b goes back to its lane.
        pool.cooldown('p1', TEXT_MODEL, { reason: 'quota exhausted (429)', retryAfterMs: 10_000 });
        return { kind: 'requeue' };
      }
      // Each successful call takes 4 s.
      return new Promise((resolve) => setTimeout(() => resolve({ kind: 'done' }), 4_000));
    });
    const run = start(makeScheduler(job, store, pool, executor).scheduler);
    await until(() => run.done);
    // 10 s waiting + 4 s call + 10 s waiting: more than 15 s since the run began, but never 15 s without progress.
    expect(run.outcome).toEqual({ kind: 'finished' });
    expect(executor.calls.map((c) => `${c.itemId}${c.probe ? ' (probe)' : ''}`)).toEqual(['a (probe)', 'b', 'b (probe)']);
    expect(run.endedAt).toBeGreaterThanOrEqual(T0 + 15_000);
  });

  it('a step whose pool has no project ends the run as unusable, with the reason', async () => {
    const job = makeJob([step('hero', IMAGE_MODEL, { pool: 'images', task: 'image' })]);
    const store = makeStore(job, ids(2));
    const pool = makePool([project('t1', 'text')]);
    const executor = new FakeExecutor(store, pool, () => ({ kind: 'done' }));
    const run = start(makeScheduler(job, store, pool, executor).scheduler);
    await until(() => run.done);
    expect(run.outcome).toEqual({ kind: 'unusable', reasons: [`pool "images", model ${IMAGE_MODEL}: no project belongs to pool "images"`] });
    expect(executor.calls).toEqual([]);
  });

  it('a cooldown shorter than maxStallMs: the lane waits it out, one probe goes first, then the run finishes', async () => {
    const job = makeJob([step('brief', TEXT_MODEL)], { concurrency: 2, maxStallMs: 60_000 });
    const store = makeStore(job, ids(4));
    const pool = makePool([project('p1')]);
    const cooledUntil = pool.cooldown('p1', TEXT_MODEL, { reason: 'quota exhausted (429)', retryAfterMs: 10_000 });
    const executor = new FakeExecutor(store, pool, () => ({ kind: 'done' }));
    const run = start(makeScheduler(job, store, pool, executor).scheduler);
    await until(() => run.done);
    expect(run.outcome).toEqual({ kind: 'finished' });
    expect(executor.calls).toHaveLength(4);
    expect(executor.calls[0]?.at).toBeGreaterThanOrEqual(cooledUntil);
    expect(executor.calls.map((c) => c.probe)).toEqual([true, false, false, false]);
  });
});

describe('Scheduler: slots', () => {
  it('(b) never more than limits.concurrency calls in flight', async () => {
    const job = makeJob([step('brief', TEXT_MODEL)], { concurrency: 3 });
    const store = makeStore(job, ids(8));
    const pool = makePool([project('p1'), project('p2')]);
    const { held, behave } = holder();
    const executor = new FakeExecutor(store, pool, behave);
    const run = start(makeScheduler(job, store, pool, executor).scheduler);

    await until(() => executor.calls.length === 3);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(executor.calls).toHaveLength(3);
    expect(executor.inFlight).toBe(3);

    held.shift()?.resolve({ kind: 'done' });
    await until(() => executor.calls.length === 4);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(executor.calls).toHaveLength(4);

    // Let the rest through as they come.
    await until(() => {
      held.splice(0).forEach((h) => h.resolve({ kind: 'done' }));
      return run.done;
    });
    expect(run.outcome).toEqual({ kind: 'finished' });
    expect(executor.calls).toHaveLength(8);
    expect(executor.maxInFlight).toBe(3);
    expect(new Set(executor.calls.map((c) => c.itemId)).size).toBe(8);
  });

  it('(c) a retried unit comes back after its delay and holds no slot meanwhile', async () => {
    const job = makeJob([step('brief', TEXT_MODEL)], { concurrency: 1 });
    const store = makeStore(job, ['a', 'b', 'c']);
    const pool = makePool([project('p1')]);
    const executor = new FakeExecutor(store, pool, (unit, nth) => (unit.item.id === 'a' && nth === 1 ? { kind: 'retry', delayMs: 10_000 } : { kind: 'done' }));
    const run = start(makeScheduler(job, store, pool, executor).scheduler);
    await until(() => run.done);

    expect(run.outcome).toEqual({ kind: 'finished' });
    expect(executor.calls.map((c) => c.itemId)).toEqual(['a', 'b', 'c', 'a']);
    const [firstA, b, c, secondA] = executor.calls;
    // b and c ran during a's backoff (concurrency 1: a held no slot), and a came back only after it.
    expect(b?.at).toBeLessThan((firstA?.at ?? 0) + 10_000);
    expect(c?.at).toBeLessThan((firstA?.at ?? 0) + 10_000);
    expect(secondA?.at).toBeGreaterThanOrEqual((firstA?.at ?? 0) + 10_000);
    expect(store.itemSteps('a')[0]).toMatchObject({ state: 'done', attempts: 2 });
  });

  it('(d) a requeued unit goes to the front of its lane', async () => {
    const job = makeJob([step('brief', TEXT_MODEL)], { concurrency: 1 });
    const store = makeStore(job, ['a', 'b', 'c']);
    const pool = makePool([project('p1')]);
    const executor = new FakeExecutor(store, pool, (unit, nth) => (unit.item.id === 'a' && nth === 1 ? { kind: 'requeue' } : { kind: 'done' }));
    const run = start(makeScheduler(job, store, pool, executor).scheduler);
    await until(() => run.done);
    expect(run.outcome).toEqual({ kind: 'finished' });
    expect(executor.calls.map((c) => c.itemId)).toEqual(['a', 'a', 'b', 'c']);
    // A requeue used no attempt.
    expect(store.itemSteps('a')[0]).toMatchObject({ state: 'done', attempts: 1 });
  });

  it('a failed unit ends its item: its next step is never run, the other items go on', async () => {
    const job = makeJob([step('brief', TEXT_MODEL), step('title', TEXT_MODEL)], { concurrency: 1 });
    const store = makeStore(job, ['a', 'b']);
    const pool = makePool([project('p1')]);
    const executor = new FakeExecutor(store, pool, (unit) => (unit.item.id === 'a' ? { kind: 'failed' } : { kind: 'done' }));
    const { scheduler } = makeScheduler(job, store, pool, executor);
    const run = start(scheduler);
    await until(() => run.done);
    expect(run.outcome).toEqual({ kind: 'finished' });
    expect(executor.calls.map((c) => `${c.itemId}/${c.step}`)).toEqual(['a/brief', 'b/brief', 'b/title']);
    expect(scheduler.completedSteps()).toEqual({ brief: 1, title: 1 });
    expect(stepState(store, 'a', 'title')).toBe('pending');
  });
});

describe('Scheduler: stopping', () => {
  it('(e) after abort, run() resolves stopped once the calls in flight have finished, and starts no new call', async () => {
    const job = makeJob([step('brief', TEXT_MODEL)], { concurrency: 2 });
    const store = makeStore(job, ids(5));
    const pool = makePool([project('p1')]);
    const { held, behave } = holder();
    const executor = new FakeExecutor(store, pool, behave);
    const controller = new AbortController();
    const run = start(makeScheduler(job, store, pool, executor, controller.signal).scheduler);

    await until(() => executor.calls.length === 2);
    controller.abort();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(run.done).toBe(false);

    held.shift()?.resolve({ kind: 'done' });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(run.done).toBe(false);
    expect(executor.calls).toHaveLength(2);

    held.shift()?.resolve({ kind: 'done' });
    await until(() => run.done);
    expect(run.outcome).toEqual({ kind: 'stopped' });
    expect(executor.calls).toHaveLength(2);
    expect(ids(5).map((id) => stepState(store, id, 'brief'))).toEqual(['done', 'done', 'pending', 'pending', 'pending']);
  });

  it('(g) an executor that throws: run() rejects with that error once the other calls in flight end', async () => {
    const job = makeJob([step('brief', TEXT_MODEL)], { concurrency: 2 });
    const store = makeStore(job, ['a', 'b', 'c', 'd']);
    const pool = makePool([project('p1')]);
    const { held, behave } = holder();
    const boom = new Error('state conflict (test)');
    const executor = new FakeExecutor(store, pool, (unit) => (unit.item.id === 'b' ? Promise.reject(boom) : behave(unit)));
    const run = start(makeScheduler(job, store, pool, executor).scheduler);

    await until(() => executor.calls.length === 2);
    await vi.advanceTimersByTimeAsync(5_000);
    // b threw; a is still in flight: the run waits for it and starts nothing new.
    expect(run.done).toBe(false);
    expect(executor.calls.map((c) => c.itemId)).toEqual(['a', 'b']);

    held.shift()?.resolve({ kind: 'done' });
    await until(() => run.done);
    expect(run.error).toBe(boom);
    expect(run.outcome).toBeUndefined();
    expect(executor.calls.map((c) => c.itemId)).toEqual(['a', 'b']);
    expect(stepState(store, 'a', 'brief')).toBe('done');
  });
});

describe('Scheduler: parked operations', () => {
  it('(f) a parked operation is polled with no execute slot held: another unit runs meanwhile', async () => {
    const job = makeJob([step('clip', VIDEO_MODEL, { task: 'video' })], { concurrency: 1 });
    const store = makeStore(job, ['a', 'b']);
    const pool = makePool([project('p1')]);
    const { held, behave } = holder();
    const executor = new FakeExecutor(
      store,
      pool,
      (unit) => (unit.item.id === 'a' ? { kind: 'park' } : behave(unit)),
      (_operation, nth) => (nth < 2 ? 'running' : 'done'),
      2_000,
    );
    const run = start(makeScheduler(job, store, pool, executor).scheduler);

    // a started its operation and was parked; b took the only slot and is held.
    await until(() => executor.calls.length === 2);
    expect(executor.calls.map((c) => c.itemId)).toEqual(['a', 'b']);
    expect(held).toHaveLength(1);

    // a is polled (twice: running, then done) while b still holds the only slot.
    await until(() => executor.polls.length === 2);
    expect(executor.polls.map((p) => p.operationName)).toEqual(['operations/op-a', 'operations/op-a']);
    expect(executor.polls.every((p) => p.executing === 1)).toBe(true);
    expect(executor.polls[0]?.client).toBe(pool.clientFor('p1'));
    expect((executor.polls[1]?.at ?? 0) - (executor.polls[0]?.at ?? 0)).toBeGreaterThanOrEqual(2_000);
    await vi.advanceTimersByTimeAsync(100);
    expect(stepState(store, 'a', 'clip')).toBe('done');
    expect(run.done).toBe(false);

    held.shift()?.resolve({ kind: 'done' });
    await until(() => run.done);
    expect(run.outcome).toEqual({ kind: 'finished' });
    expect(executor.calls).toHaveLength(2);
    expect(executor.maxInFlight).toBe(1);
  });
});
