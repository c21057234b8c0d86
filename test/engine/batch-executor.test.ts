import { readFile } from 'node:fs/promises';
import type { BatchJob, GoogleGenAI } from '@google/genai';
import { describe, expect, it, vi } from 'vitest';
import type { ProjectCredentials } from '../../src/credentials/credentials.js';
import { BatchExecutor } from '../../src/engine/executors/batch-executor.js';
import type { BatchService } from '../../src/engine/executors/batch-service.js';
import { OnlineExecutor } from '../../src/engine/executors/online-executor.js';
import type { Settled } from '../../src/engine/executors/step-executor.js';
import type { BatchStepStoppedError } from '../../src/errors/batch-step-stopped-error.js';
import { InvalidRequestError, TransientError } from '../../src/errors/provider-errors.js';
import { Budget } from '../../src/estimate/budget.js';
import { useTempDir } from '../helpers/temp-dir.js';
import type { Step } from '../../src/job/job.js';
import { makeWorld, MODEL, project, textStep, usage, useFakeWorlds, type World } from './executor-world.js';

/**
 * BatchExecutor through its public methods (add, tick, busy), on a real state file, pool and price
 * catalog, with a fake BatchService standing for Vertex AI's batch jobs and Cloud Storage: it keeps
 * the uploaded input, and a test decides how each job ends and what its output holds. Output lines
 * are written as Vertex writes them: the request echoed (with our labels), no `key`, in any order.
 */
const POLL_MS = 30_000;
const STAGING = 'gs://bucket/staging';
const tempDir = useTempDir();
const worlds = useFakeWorlds<World>();

interface FakeJob {
  name: string;
  model: string;
  src: string;
  dest: string;
  displayName: string;
  state: string;
  /** The input lines as uploaded. */
  input: { key: string; request: Record<string, unknown> }[];
  /** The output lines, as text (set by `finish`). */
  output: string[];
  successfulCount?: number;
}

/** Vertex AI batch prediction and Cloud Storage, as the executor sees them (src/engine/executors/batch-service.ts). */
class FakeBatchService implements BatchService {
  readonly jobs: FakeJob[] = [];
  readonly files = new Map<string, string>();
  readonly removed: string[] = [];
  gets = 0;
  /** What the next create calls throw (a 400, a 503), if anything. */
  createError: Error | undefined;

  async upload(_project: ProjectCredentials, localFile: string, uri: string): Promise<void> {
    this.files.set(uri, await readFile(localFile, 'utf8'));
  }

  async create(_client: GoogleGenAI, job: { model: string; src: string; dest: string; displayName: string }): Promise<BatchJob> {
    if (this.createError) throw this.createError;
    const text = this.files.get(job.src);
    if (text === undefined) throw new Error(`no input at ${job.src}`);
    const input = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as FakeJob['input'][number]);
    const name = `projects/gcp-p1/locations/us-central1/batchPredictionJobs/${this.jobs.length + 1}`;
    this.jobs.push({ ...job, name, state: 'JOB_STATE_PENDING', input, output: [] });
    return { name, state: 'JOB_STATE_PENDING' } as BatchJob;
  }

  get(_client: GoogleGenAI, name: string): Promise<BatchJob> {
    this.gets += 1;
    const job = this.job(name);
    return Promise.resolve({
      name,
      state: job.state,
      displayName: job.displayName,
      outputInfo: { gcsOutputDirectory: `${job.dest}/prediction-model-1` },
      ...(job.successfulCount === undefined ? {} : { completionStats: { successfulCount: String(job.successfulCount) } }),
    } as BatchJob);
  }

  async findByDisplayName(client: GoogleGenAI, displayName: string): Promise<BatchJob | undefined> {
    const job = this.jobs.find((j) => j.displayName === displayName);
    return job ? this.get(client, job.name) : undefined;
  }

  cancel(): Promise<void> {
    return Promise.resolve();
  }

  async *outputLines(_project: ProjectCredentials, directory: string): AsyncIterable<string> {
    const job = this.jobs.find((j) => directory.startsWith(j.dest));
    for (const line of job?.output ?? []) yield line;
  }

  remove(_project: ProjectCredentials, uri: string): Promise<void> {
    this.removed.push(uri);
    return Promise.resolve();
  }

  /** A job by name; the latest one by default. */
  job(name = this.jobs.at(-1)?.name ?? ''): FakeJob {
    const job = this.jobs.find((j) => j.name === name);
    if (!job) throw new Error(`no batch job ${name}`);
    return job;
  }

  /**
   * Ends the job: a line for each key of `answered`, in that order, as Vertex writes one (the
   * request echoed, no key), answering "answer for <key>"; `successfulCount` as completionStats says it.
   * The keys of `failed` get a line that failed (a status, no response), after the others.
   */
  finish(state: string, answered: string[], successfulCount = answered.length, failed: string[] = []): void {
    const job = this.job();
    job.state = state;
    job.successfulCount = successfulCount;
    const inputOf = (key: string): FakeJob['input'][number] => {
      const line = job.input.find((l) => l.key === key);
      if (!line) throw new Error(`no input line for ${key}`);
      return line;
    };
    const failedLines = failed.map((key) =>
      JSON.stringify({
        status: 'Internal Server Error: {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}',
        processed_time: new Date().toISOString(),
        request: inputOf(key).request,
      }),
    );
    job.output = answered.map((key) => {
      const line = inputOf(key);
      return JSON.stringify({
        status: '',
        processed_time: new Date().toISOString(),
        request: line.request,
        response: {
          candidates: [{ content: { role: 'model', parts: [{ text: `answer for ${key}` }] }, finishReason: 'STOP' }],
          usageMetadata: LINE_USAGE_METADATA,
        },
      });
    });
    job.output.push(...failedLines);
  }
}

const LINE_USAGE_METADATA = { promptTokenCount: 200, candidatesTokenCount: 300, totalTokenCount: 500 };
const LINE_USAGE = usage({ inputTokens: 200, outputTokens: 300 });

/** `items` in the state; the first `gathered` of them handed to the executor. */
/** A run's BatchExecutor over the world's state, as the engine makes one (`runId`: another run's, after a crash). */
function newBatch(world: World, service: FakeBatchService, runId = world.context.runId) {
  const context = { ...world.context, runId };
  const budget = new Budget({ maxUsd: 10 }, 0, 0);
  const settled: Settled[] = [];
  const stopped: BatchStepStoppedError[] = [];
  const errors: unknown[] = [];
  const batch = new BatchExecutor({
    ...context,
    store: world.store,
    online: new OnlineExecutor(context),
    budget,
    credentials: () => ({ file: world.job.credentialsFile, strategy: 'round-robin', projects: [project('p1')] }),
    signal: new AbortController().signal,
    noWait: false,
    onBudgetRefused: (usd) => errors.push(new Error(`budget refused $${usd}`)),
    onStepStopped: (error) => stopped.push(error),
    service,
  });
  /**
   * One turn of the scheduler at the fake clock's now, and the work it started run to its end: the
   * pool's limiter hops in fake time, the files are real I/O (awaited turn by turn, up to 20 s of real
   * time on a loaded host; process.hrtime is not faked).
   */
  const take = (how: { drain: boolean; stopping: boolean }): void => {
    const turned = batch.turn(Date.now(), how);
    settled.push(...turned.settled);
    if (turned.failed !== undefined) errors.push(turned.failed);
  };
  const turn = async (drain = true): Promise<void> => {
    take({ drain, stopping: false });
    const deadline = process.hrtime.bigint() + 20_000_000_000n;
    while (batch.inFlight > 0 && process.hrtime.bigint() < deadline) {
      await vi.advanceTimersByTimeAsync(1);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect(batch.inFlight).toBe(0);
    // What the work started settled, handed back at the scheduler's next turn (one that starts nothing).
    take({ drain, stopping: true });
    expect(errors).toEqual([]);
  };
  return { budget, batch, settled, stopped, turn };
}

/** `items` in the state; the first `gathered` of them handed to the executor. */
function setup(items: string[], gathered = items.length, step: Partial<Step> = {}) {
  const world = makeWorld(tempDir(), {
    steps: [textStep({ mode: 'batch', ...step })],
    items,
    projects: [project('p1')],
    job: { batch: { staging: STAGING, minItems: 1, maxRequests: 1_000, pollMs: POLL_MS } },
  });
  worlds.push(world);
  const service = new FakeBatchService();
  const run = newBatch(world, service);
  for (const id of items.slice(0, gathered)) run.batch.add(world.unit(id));
  return { world, service, ...run };
}

const verdicts = (settled: Settled[]): Record<string, string> => Object.fromEntries(settled.map((s) => [s.unit.item.id, s.verdict.kind]));

describe('BatchExecutor', () => {
  it('submits the gathered items as one job, polls it every poll_ms, and settles shuffled output lines by their own key', async () => {
    const { world, service, budget, batch, settled, turn } = setup(['a', 'b', 'c']);

    await turn();

    expect(service.jobs).toHaveLength(1);
    const job = service.job();
    expect(job.input.map((l) => l.key)).toEqual(['a', 'b', 'c']);
    expect(job.model).toBe(MODEL);
    for (const id of ['a', 'b', 'c']) expect(world.row(id)).toMatchObject({ state: 'running', project: 'p1' });
    // Intent before spend: a ledger row per request, at its worst case, before anything is known.
    expect(world.store.ledger.totals()).toMatchObject({ costUsd: 0, unsettledCalls: 3 });
    expect(budget.holding).toBe(true);

    // Not polled before poll_ms; polled after it, still running.
    await turn();
    expect(service.gets).toBe(0);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    job.state = 'JOB_STATE_RUNNING';
    await turn();
    expect(service.gets).toBe(1);
    expect(settled).toEqual([]);
    expect(batch.busy).toBe(true);

    // Done, its lines in another order than the input's and without our key.
    service.finish('JOB_STATE_SUCCEEDED', ['c', 'a', 'b']);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    await turn();

    expect(verdicts(settled)).toEqual({ a: 'done', b: 'done', c: 'done' });
    for (const id of ['a', 'b', 'c']) {
      expect(world.row(id)).toMatchObject({ state: 'done', result: { text: `answer for ${id}` } });
      expect(world.row(id).costUsd).toBeCloseTo(world.catalog.batchCost(MODEL, LINE_USAGE), 12);
    }
    const price = 3 * world.catalog.batchCost(MODEL, LINE_USAGE);
    expect(world.store.ledger.totals()).toMatchObject({ requests: 3, unsettledCalls: 0 });
    expect(world.store.ledger.totals().costUsd).toBeCloseTo(price, 12);
    expect(budget.holding).toBe(false);
    // Staging cleaned up: the input and the output.
    expect(service.removed.sort()).toEqual([job.dest, job.src].sort());
    expect(batch.busy).toBe(false);
  });

  it('items a finished job left without a line, with nothing billed unread, go back to pending at no cost', async () => {
    const { world, service, settled, stopped, turn } = setup(['a', 'b', 'c']);
    await turn();
    service.finish('JOB_STATE_SUCCEEDED', ['b', 'a']);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    await turn();

    expect(verdicts(settled)).toEqual({ a: 'done', b: 'done', c: 'released' });
    expect(world.row('c')).toMatchObject({ state: 'pending', errorCode: 'BATCH_NO_LINE', costUsd: 0 });
    expect(world.row('c').errorMessage).toBe('the batch job ended without answering this request');
    // Every ledger row settled; c's at $0.
    expect(world.store.ledger.totals()).toMatchObject({ unsettledCalls: 0 });
    expect(world.store.ledger.totals().costUsd).toBeCloseTo(2 * world.catalog.batchCost(MODEL, LINE_USAGE), 12);
    expect(stopped).toEqual([]);
  });

  it('a SUCCEEDED job whose output cannot all be read (completionStats counts more billed lines): the items without a line fail at their worst case, nothing is resubmitted, the output is kept', async () => {
    const { world, service, budget, settled, stopped, turn, batch } = setup(['a', 'b', 'c', 'd'], 3);
    await turn();
    const reserved = world.store.ledger.totals().unsettledMaxUsd / 3;
    expect(reserved).toBeGreaterThan(0);
    // Vertex billed three lines; only a's can be read.
    service.finish('JOB_STATE_SUCCEEDED', ['a'], 3);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    await turn();

    expect(verdicts(settled)).toEqual({ a: 'done', b: 'failed', c: 'failed' });
    for (const id of ['b', 'c']) {
      expect(world.row(id)).toMatchObject({ state: 'failed', errorCode: 'BATCH_OUTPUT_UNREADABLE' });
      expect(world.row(id).costUsd).toBeCloseTo(reserved, 12);
    }
    // Booked: a at its price, b and c at their worst case (what Vertex may have billed for them).
    const totals = world.store.ledger.totals();
    expect(totals.unsettledCalls).toBe(0);
    expect(totals.costUsd).toBeCloseTo(world.catalog.batchCost(MODEL, LINE_USAGE) + 2 * reserved, 12);
    expect(budget.holding).toBe(false);
    // The step stops for this run and says why; the output stays for a person to look at.
    expect(stopped.map((e) => e.code)).toEqual(['BATCH_OUTPUT_UNREADABLE']);
    expect(stopped[0]?.message).toMatch(/Vertex billed 2 line\(s\) whose output cannot be read/);
    const job = service.job();
    expect(service.removed).toEqual([job.src]);
    // An item of the stopped step that arrives later is released for the next run, never submitted.
    settled.length = 0;
    batch.add(world.unit('d'));
    await turn();
    expect(verdicts(settled)).toEqual({ d: 'released' });
    expect(world.row('d')).toMatchObject({ state: 'pending' });
    expect(service.jobs).toHaveLength(1);
  });

  it('a job that expired at Vertex puts the unanswered items back to pending for the next run, at no cost', async () => {
    const { world, service, settled, turn, budget } = setup(['a', 'b']);
    await turn();
    service.finish('JOB_STATE_EXPIRED', ['a'], 1);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    await turn();

    expect(verdicts(settled)).toEqual({ a: 'done', b: 'released' });
    expect(world.row('b')).toMatchObject({ state: 'pending', errorCode: 'BATCH_EXPIRED' });
    expect(world.row('b').errorMessage).toMatch(/expired/);
    expect(world.store.ledger.totals()).toMatchObject({ unsettledCalls: 0 });
    expect(budget.holding).toBe(false);
  });

  it('a line that failed is retried in the next batch job, and the step fails at max_attempts', async () => {
    const { world, service, settled, turn, batch } = setup(['a', 'b'], 2, { maxAttempts: 2 });
    await turn();
    service.finish('JOB_STATE_PARTIALLY_SUCCEEDED', ['a'], 1, ['b']);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    await turn();

    expect(verdicts(settled)).toEqual({ a: 'done', b: 'retry' });
    expect(world.row('b')).toMatchObject({ state: 'pending', attempts: 1, errorCode: 'BATCH_LINE_FAILED' });
    expect(world.row('b').errorMessage).toMatch(/^batch line failed: Internal Server Error/);
    expect(world.store.ledger.requestsByStatus()).toEqual(expect.arrayContaining([{ status: 500, requests: 1 }]));

    // The scheduler hands it back: a second job, with b alone; it fails again, and that was its last attempt.
    settled.length = 0;
    batch.add(world.unit('b'));
    await turn();
    expect(service.jobs).toHaveLength(2);
    expect(service.job().input.map((l) => l.key)).toEqual(['b']);
    service.finish('JOB_STATE_SUCCEEDED', [], 0, ['b']);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    await turn();
    expect(verdicts(settled)).toEqual({ b: 'failed' });
    expect(world.row('b')).toMatchObject({ state: 'failed', attempts: 2, errorCode: 'BATCH_LINE_FAILED' });
    expect(world.row('b').errorMessage).toMatch(/\(gave up after 2 attempts\)$/);
    expect(world.store.ledger.totals()).toMatchObject({ requests: 3, unsettledCalls: 0 });
  });

  it('a batch job Vertex refuses to create (400) fails its items with the reason, at no cost; a passing refusal (503) puts them back for a retry', async () => {
    const refused = setup(['a', 'b']);
    refused.service.createError = new InvalidRequestError('400 INVALID_ARGUMENT: model does not support batch prediction', { httpStatus: 400 });
    await refused.turn();
    expect(verdicts(refused.settled)).toEqual({ a: 'failed', b: 'failed' });
    expect(refused.world.row('a')).toMatchObject({ state: 'failed', errorCode: 'BATCH_CREATE_REFUSED', costUsd: 0 });
    expect(refused.world.row('a').errorMessage).toMatch(/could not be created: 400 INVALID_ARGUMENT/);
    expect(refused.world.store.ledger.totals()).toMatchObject({ costUsd: 0, unsettledCalls: 0 });
    expect(refused.budget.holding).toBe(false);

    const passing = setup(['a', 'b']);
    passing.service.createError = new TransientError('503 UNAVAILABLE', { httpStatus: 503 });
    await passing.turn();
    expect(passing.settled.map((s) => s.verdict)).toEqual([
      { kind: 'retry', delayMs: 30_000 },
      { kind: 'retry', delayMs: 30_000 },
    ]);
    expect(passing.world.row('a')).toMatchObject({ state: 'pending', attempts: 1, errorCode: 'BATCH_CREATE_FAILED' });
    expect(passing.world.store.ledger.totals()).toMatchObject({ costUsd: 0, unsettledCalls: 0 });
    expect(passing.budget.holding).toBe(false);
  });

  it('after a crash, the next run adopts the batch job the dead one submitted and collects it: nothing is submitted or paid twice', async () => {
    const { world, service, turn } = setup(['a', 'b']);
    await turn();
    expect(service.jobs).toHaveLength(1);
    const reserved = world.store.ledger.totals().unsettledMaxUsd;
    // The run dies. The next one finds the job in the state; its items stay running in it.
    expect(world.store.recoverAbandoned('run-next')).toBe(0);
    const next = newBatch(world, service, 'run-next');
    await next.batch.resume();
    expect(next.batch.adoptedUnits).toBe(2);
    expect(world.events.filter((e) => e.event === 'batch:submitted').map((e) => e.args[0])).toMatchObject([{ resumed: false }, { resumed: true, requests: 2 }]);
    // Its worst case is held again in the new run's budget (it is already in the spend the ledger shows).
    expect(next.budget.holding).toBe(true);
    expect(world.store.spentUsd()).toBeCloseTo(reserved, 12);

    service.finish('JOB_STATE_SUCCEEDED', ['b', 'a']);
    await next.turn();
    expect(verdicts(next.settled)).toEqual({ a: 'done', b: 'done' });
    expect(service.jobs).toHaveLength(1);
    expect(world.row('a')).toMatchObject({ state: 'done', result: { text: 'answer for a' } });
    expect(world.store.ledger.totals()).toMatchObject({ requests: 2, unsettledCalls: 0 });
    expect(world.store.ledger.totals().costUsd).toBeCloseTo(2 * world.catalog.batchCost(MODEL, LINE_USAGE), 12);
    expect(next.budget.holding).toBe(false);
  });
});
