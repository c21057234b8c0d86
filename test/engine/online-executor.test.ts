import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { ResponseCache } from '../../src/cache/response-cache.js';
import { OnlineExecutor } from '../../src/engine/executors/online-executor.js';
import { settle } from '../../src/engine/call-pipeline.js';
import type { ParkedOperation, PreparedCall, ResumedOperation, Settled } from '../../src/engine/executors/step-executor.js';
import type { Unit } from '../../src/engine/unit.js';
import { InvalidRequestError, OutcomeUnknownError, QuotaExhaustedError, TransientError } from '../../src/errors/provider-errors.js';
import type { Provider, ProviderRequest, ProviderResult, VideoOperationStatus } from '../../src/providers/provider.js';
import { StateStore } from '../../src/store/state-store.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { budgetFor, FakeProvider, makeWorld, MODEL, project, textStep, usage, useFakeWorlds, type Answer, type World } from './executor-world.js';

/**
 * OnlineExecutor through its public methods (prepare, execute), on a real state file, a real
 * project pool and price catalog, and a fake provider. What is asserted is what a person sees
 * afterwards: the step's state and message, the ledger's calls and cost, the budget, the pool's
 * health, the files written.
 */
const tempDir = useTempDir();
const worlds = useFakeWorlds<World>();

const REPLY_USAGE = usage({ inputTokens: 1_000, outputTokens: 400, thoughtsTokens: 100 });
const reply = (text: string): ProviderResult => ({ text, usage: REPLY_USAGE, finishReason: 'STOP' });

function setup(answer: Answer, options: Parameters<typeof makeWorld>[1] = {}) {
  const provider = new FakeProvider('text', answer);
  const world = makeWorld(tempDir(), { ...options, provider });
  worlds.push(world);
  return { world, provider, executor: new OnlineExecutor(world.context) };
}

/** One call for a unit, as the scheduler makes it: prepared, reserved against the budget, leased, executed. */
async function callOnce(world: World, executor: OnlineExecutor, unit: Unit): Promise<Settled[]> {
  const { call, rejected } = executor.prepare([unit]);
  expect(rejected).toEqual([]);
  const lease = await world.lease();
  if (!lease) throw new Error('no project was ready');
  return (await executor.execute(call as PreparedCall, lease)).settled;
}

type Leased = NonNullable<Awaited<ReturnType<World['lease']>>>;

describe('OnlineExecutor', () => {
  it('a reply completes the step, writes its output and books the call at its price in the ledger', async () => {
    const { world, executor } = setup(() => reply('Forty words about a.'), {
      steps: [textStep({ output: { file: '{{slug}}.txt', post: [] } })],
    });
    const { budget, reserve } = budgetFor(1);
    const unit = world.unit('a');
    const { call } = executor.prepare([unit]);
    const hold = await reserve((call as PreparedCall).worstCaseUsd);

    // The call pipeline settles the hold from the call's settlement: what the reply cost.
    const settlement = await executor.execute(call as PreparedCall, (await world.lease()) as Leased);
    expect(settlement.spentUsd).toBeCloseTo(world.catalog.cost(MODEL, REPLY_USAGE), 12);
    const settled = settle(hold, settlement);

    expect(settled.map((s) => s.verdict)).toEqual([{ kind: 'done' }]);
    const price = world.catalog.cost(MODEL, REPLY_USAGE);
    expect(price).toBeGreaterThan(0);
    const row = world.row('a');
    expect(row).toMatchObject({ state: 'done', attempts: 1, costUsd: price, model: MODEL, finishReason: 'STOP', outputs: ['a.txt'] });
    expect(readFileSync(join(world.job.outputDir, 'a.txt'), 'utf8')).toBe('Forty words about a.');
    // One call, settled (its intent row replaced by what it used), nothing left at its worst case.
    expect(world.store.ledger.totals()).toEqual({ costUsd: price, requests: 1, unsettledCalls: 0, unsettledMaxUsd: 0 });
    expect(world.store.ledger.costRows()).toMatchObject([{ step: 'write', model: MODEL, project: 'p1', calls: 1, input_tokens: 1_000, output_tokens: 500 }]);
    // The budget holds nothing for the call any more, and counts its price.
    expect(budget.holding).toBe(false);
    expect(budget.reserve(1 - price + 1e-6)).toBeUndefined();
    expect(budget.reserve(1 - price - 1e-6)).toBeDefined();
  });

  it('a retryable error is retried after a growing backoff and fails the step at max_attempts, every attempt in the ledger', async () => {
    const { world, executor, provider } = setup(() => {
      throw new TransientError('Vertex answered 503 UNAVAILABLE', { httpStatus: 503, apiStatus: 'UNAVAILABLE' });
    });
    const unit = world.unit('a');

    const first = await callOnce(world, executor, unit);
    const second = await callOnce(world, executor, unit);
    // Full jitter at its middle (random 0.5): 3/4 of a ceiling of 1 s, then of 2 s.
    expect(first.map((s) => s.verdict)).toEqual([{ kind: 'retry', delayMs: 750 }]);
    expect(second.map((s) => s.verdict)).toEqual([{ kind: 'retry', delayMs: 1_500 }]);
    expect(world.row('a')).toMatchObject({ state: 'pending', attempts: 2, errorCode: 'TRANSIENT' });

    const third = await callOnce(world, executor, unit);
    expect(third.map((s) => s.verdict)).toEqual([{ kind: 'failed' }]);
    expect(provider.requests).toHaveLength(3);
    const row = world.row('a');
    expect(row).toMatchObject({ state: 'failed', attempts: 3, errorCode: 'TRANSIENT', costUsd: 0 });
    expect(row.errorMessage).toBe('Vertex answered 503 UNAVAILABLE (gave up after 3 attempts)');
    // Three calls made, none billed, none left open.
    expect(world.store.ledger.totals()).toEqual({ costUsd: 0, requests: 3, unsettledCalls: 0, unsettledMaxUsd: 0 });
    expect(world.store.ledger.requestsByStatus()).toEqual([{ status: 503, requests: 3 }]);
  });

  it("a server's Retry-After is the backoff", async () => {
    const { world, executor } = setup(() => {
      throw new TransientError('503 with Retry-After: 7', { httpStatus: 503, retryAfterMs: 7_000 });
    });
    const settled = await callOnce(world, executor, world.unit('a'));
    expect(settled.map((s) => s.verdict)).toEqual([{ kind: 'retry', delayMs: 7_000 }]);
  });

  it('a 429 cools the project down for the model and requeues the item without using an attempt', async () => {
    const { world, executor, provider } = setup(
      (_request, nth) => {
        if (nth === 1) throw new QuotaExhaustedError('429 RESOURCE_EXHAUSTED: Quota exceeded', { httpStatus: 429, apiStatus: 'RESOURCE_EXHAUSTED' });
        return reply('after the cooldown');
      },
      { projects: [project('p1')] },
    );
    const unit = world.unit('a');

    const settled = await callOnce(world, executor, unit);

    expect(settled.map((s) => s.verdict)).toEqual([{ kind: 'requeue' }]);
    expect(world.row('a')).toMatchObject({ state: 'pending', attempts: 0, errorCode: 'QUOTA_EXHAUSTED' });
    const cooling = world.events.find((e) => e.event === 'project:cooldown');
    expect(cooling?.args[0]).toMatchObject({ project: 'p1', perDay: false });
    // No call goes to the project while it cools down: the pool has nobody ready for the model.
    const availability = world.pool.availability(MODEL, undefined);
    expect(availability).toMatchObject({ state: 'waiting', reason: 'every project is cooling down' });
    const until = (availability as { until: number }).until;
    expect(until - Date.now()).toBeGreaterThan(10_000);
    expect(await world.lease()).toBeUndefined();
    expect(world.store.ledger.requestsByStatus()).toEqual([{ status: 429, requests: 1 }]);

    // Once the cooldown is over, one probe goes through and the item completes.
    await vi.advanceTimersByTimeAsync(until - Date.now() + 1);
    const again = await callOnce(world, executor, unit);
    expect(again.map((s) => s.verdict)).toEqual([{ kind: 'done' }]);
    expect(provider.requests).toHaveLength(2);
    // One attempt in all: the 429 used none.
    expect(world.row('a')).toMatchObject({ state: 'done', attempts: 1 });
  });

  it('a bare 429 of shared capacity cools no project: the item waits a short backoff, no attempt used', async () => {
    // No declared quota on a Gemini model: Vertex's dynamic shared quota governs it.
    const { world, executor } = setup(
      () => {
        throw new QuotaExhaustedError('429 RESOURCE_EXHAUSTED', { httpStatus: 429, apiStatus: 'RESOURCE_EXHAUSTED' });
      },
      { projects: [project('p1', { quotas: {} })] },
    );
    const settled = await callOnce(world, executor, world.unit('a'));
    const verdict = settled[0]?.verdict;
    expect(verdict).toMatchObject({ kind: 'retry' });
    expect((verdict as { delayMs: number }).delayMs).toBeGreaterThanOrEqual(500);
    expect((verdict as { delayMs: number }).delayMs).toBeLessThanOrEqual(1_000);
    expect(world.row('a')).toMatchObject({ state: 'pending', attempts: 0 });
    expect(world.events.some((e) => e.event === 'project:cooldown')).toBe(false);
    expect(world.pool.availability(MODEL, undefined).state).not.toBe('unusable');
  });

  it("a failed call releases the budget's hold on its worst case: nothing is spent", async () => {
    const { world, executor } = setup(() => {
      throw new InvalidRequestError('400 INVALID_ARGUMENT: the prompt is empty', { httpStatus: 400, apiStatus: 'INVALID_ARGUMENT' });
    });
    const unit = world.unit('a');
    const { call } = executor.prepare([unit]);
    const worst = (call as PreparedCall).worstCaseUsd;
    expect(worst).toBeGreaterThan(0);
    // A cap that one worst case fills: while it is held, nothing else fits.
    const { budget, reserve } = budgetFor(worst);
    const hold = await reserve(worst);
    expect(budget.reserve(worst / 10)).toBeUndefined();

    const settlement = await executor.execute(call as PreparedCall, (await world.lease()) as Leased);
    expect(settlement.spentUsd).toBe(0);
    const settled = settle(hold, settlement);

    expect(settled.map((s) => s.verdict)).toEqual([{ kind: 'failed' }]);
    expect(world.row('a')).toMatchObject({ state: 'failed', errorCode: 'INVALID_REQUEST' });
    expect(budget.holding).toBe(false);
    expect(budget.reserve(worst)).toBeDefined();
    expect(world.store.ledger.totals()).toMatchObject({ costUsd: 0, requests: 1, unsettledCalls: 0 });
  });

  it('a call whose outcome is unknown (sent, no reply) keeps its worst case, in the budget and in the ledger', async () => {
    const { world, executor } = setup(() => {
      throw new OutcomeUnknownError('the call timed out after it was sent', {});
    });
    const unit = world.unit('a');
    const { call } = executor.prepare([unit]);
    const worst = (call as PreparedCall).worstCaseUsd;
    const { budget, reserve } = budgetFor(worst * 2);

    const hold = await reserve(worst);
    const settlement = await executor.execute(call as PreparedCall, (await world.lease()) as Leased);
    // Never to be known: the settlement says the worst case, so it stays reserved.
    expect(settlement.spentUsd).toBe(worst);
    const settled = settle(hold, settlement);

    expect(settled[0]?.verdict).toMatchObject({ kind: 'retry' });
    expect(budget.holding).toBe(false);
    // Counted as spent at its worst case: room for one more worst case, not two.
    expect(budget.reserve(worst)).toBeDefined();
    expect(budget.reserve(worst / 10)).toBeUndefined();
    expect(world.store.ledger.totals()).toMatchObject({ costUsd: 0, requests: 1, unsettledCalls: 1 });
    expect(world.store.ledger.totals().unsettledMaxUsd).toBeCloseTo(worst, 12);
    expect(world.store.spentUsd()).toBeCloseTo(worst, 12);
  });

  it('a crash between the reply and its checkpoint leaves the call counted at its worst case and the item pending for the next run', async () => {
    const dir = tempDir();
    const crashed = join(dir, 'crashed.db');
    // The state file as a crash would leave it: copied the moment the reply is back, before the executor writes anything.
    const { world, executor } = setup(() => {
      for (const suffix of ['', '-wal']) if (existsSync(world.job.stateFile + suffix)) copyFileSync(world.job.stateFile + suffix, crashed + suffix);
      return reply('paid for, never checkpointed');
    });
    const unit = world.unit('a');
    const { call } = executor.prepare([unit]);
    const worst = (call as PreparedCall).worstCaseUsd;

    await callOnce(world, executor, unit);
    expect(world.row('a').state).toBe('done');

    const next = StateStore.open(crashed);
    try {
      // The call's intent row was durable before the call was sent: the money is not lost sight of.
      expect(next.ledger.totals()).toMatchObject({ costUsd: 0, unsettledCalls: 1 });
      expect(next.spentUsd()).toBeCloseTo(worst, 12);
      expect(next.itemSteps('a')[0]).toMatchObject({ state: 'running', runId: 'run-unit' });
      // The next run finds the item abandoned by the dead run and does it again.
      expect(next.recoverAbandoned('run-next')).toBe(1);
      expect(next.itemSteps('a')[0]).toMatchObject({ state: 'pending' });
    } finally {
      next.close();
    }
  });

  it('a safety block marks the step filtered, billed for what the call used', async () => {
    const { world, executor } = setup(() => ({ filtered: { reason: 'blocked: SAFETY' }, finishReason: 'SAFETY', usage: REPLY_USAGE }));
    const settled = await callOnce(world, executor, world.unit('a'));
    expect(settled.map((s) => s.verdict)).toEqual([{ kind: 'filtered' }]);
    expect(world.row('a')).toMatchObject({ state: 'filtered', errorCode: 'SAFETY_FILTERED', errorMessage: 'blocked: SAFETY' });
    expect(world.store.ledger.totals().costUsd).toBeCloseTo(world.catalog.cost(MODEL, REPLY_USAGE), 12);
  });

  it('an item whose prompt cannot be rendered fails before any call', async () => {
    const { world, executor, provider } = setup(() => reply('unused'), { steps: [textStep({ prompt: 'About {{missing_column}}.' })] });
    const { call, rejected } = executor.prepare([world.unit('a')]);
    expect(call).toBeUndefined();
    expect(rejected.map((s) => s.verdict)).toEqual([{ kind: 'failed' }]);
    expect(world.row('a')).toMatchObject({ state: 'failed', errorCode: 'TEMPLATE_VALUE_MISSING' });
    expect(provider.requests).toHaveLength(0);
    expect(world.store.ledger.totals().requests).toBe(0);
  });

  it('a video operation is parked once started and settled by its polls; the next run after a crash polls the same operation instead of paying for another', async () => {
    const VEO = 'veo-3.0-generate-001';
    const starts: ProviderRequest[] = [];
    const polls: string[] = [];
    const video: Provider = {
      task: 'video',
      call: () => Promise.reject(new Error('a video is started and polled, never called')),
      start: (_client, request) => {
        starts.push(request);
        return Promise.resolve(`operations/op-${starts.length}`);
      },
      poll: (_client, name): Promise<VideoOperationStatus> => {
        polls.push(name);
        if (polls.length < 3) return Promise.resolve({ done: false });
        return Promise.resolve({
          done: true,
          result: { media: [{ mimeType: 'video/mp4', data: Buffer.from('....ftypmp42 a video') }], usage: usage({ videoSeconds: 8 }) },
        });
      },
    };
    const world = makeWorld(tempDir(), {
      steps: [textStep({ name: 'clip', task: 'video', model: VEO, prompt: 'A clip about {{slug}}.', output: { file: '{{slug}}.mp4', post: [] } })],
      provider: video,
    });
    worlds.push(world);
    const first = new OnlineExecutor(world.context);
    const { call } = first.prepare([world.unit('a')]);
    const worst = (call as PreparedCall).worstCaseUsd;

    const firstBudget = budgetFor(100);
    const hold = await firstBudget.reserve(worst);
    const startedSettlement = await first.execute(call as PreparedCall, (await world.lease(VEO)) as Leased);
    // Nothing is spent yet: the hold goes with the parked operation.
    expect(startedSettlement.spentUsd).toBeUndefined();
    const started = settle(hold, startedSettlement);
    expect(firstBudget.budget.holding).toBe(true);

    expect(started[0]?.verdict.kind).toBe('parked');
    const operation = (started[0]?.verdict as { operation: ParkedOperation }).operation;
    // The operation's name is checkpointed as soon as it exists; its call counts at its worst case meanwhile.
    expect(world.row('a', 'clip')).toMatchObject({ state: 'running', operationName: 'operations/op-1', project: 'p1' });
    expect(world.store.ledger.totals()).toMatchObject({ unsettledCalls: 1, costUsd: 0 });
    const client = world.pool.clientFor('p1') as NonNullable<ReturnType<World['pool']['clientFor']>>;
    expect(await first.poll(operation, client)).toEqual({ kind: 'running' });

    // The run dies here. The next one finds the operation in the state and polls it: nothing is started again.
    expect(world.store.recoverAbandoned('run-next')).toBe(1);
    const row = world.row('a', 'clip');
    expect(row).toMatchObject({ state: 'pending', operationName: 'operations/op-1' });
    const unit: Unit = { ...world.unit('a', world.job.steps[0]), operationName: row.operationName ?? undefined, operationProject: row.project ?? undefined };
    const next = new OnlineExecutor({ ...world.context, runId: 'run-next' });
    const { budget, holds } = budgetFor(100);
    const resumed = next.resumeOperation(unit);
    expect(Array.isArray(resumed)).toBe(false);
    const { operation: parked, holdUsd, counted } = resumed as ResumedOperation;
    // Its worst case is already in the ledger (the intent row): held, not counted twice.
    expect(counted).toBe(true);
    expect(holdUsd).toBeCloseTo(worst, 12);
    const resumedHold = holds.hold(holdUsd, counted, parked.project);
    expect(await next.poll(parked, client)).toEqual({ kind: 'running' });
    const done = await next.poll(parked, client);
    if (done.kind !== 'settled') throw new Error(`the operation did not end: ${done.kind}`);
    resumedHold.settle(done.spentUsd ?? 0);

    expect(done.kind).toBe('settled');
    expect((done as { settled: Settled[] }).settled.map((s) => s.verdict)).toEqual([{ kind: 'done' }]);
    expect(starts).toHaveLength(1);
    expect(polls).toEqual(['operations/op-1', 'operations/op-1', 'operations/op-1']);
    // Veo 3 makes sound by default: 8 s at the price with audio.
    const price = world.catalog.cost(VEO, usage({ videoSeconds: 8 }), { withAudio: true });
    expect(price).toBeGreaterThan(world.catalog.cost(VEO, usage({ videoSeconds: 8 })));
    expect(world.row('a', 'clip')).toMatchObject({ state: 'done', outputs: ['a.mp4'], operationName: null });
    expect(world.row('a', 'clip').costUsd).toBeCloseTo(price, 12);
    expect(readFileSync(join(world.job.outputDir, 'a.mp4'), 'utf8')).toBe('....ftypmp42 a video');
    // One call in the ledger, settled at the video's price.
    expect(world.store.ledger.totals()).toMatchObject({ requests: 1, unsettledCalls: 0 });
    expect(world.store.ledger.totals().costUsd).toBeCloseTo(price, 12);
    expect(budget.holding).toBe(false);
  });

  it('an identical request is answered from the response cache: no project, no call, $0, the same text', async () => {
    const cache = ResponseCache.open({ dir: join(tempDir(), 'cache'), clock: () => Date.now() });
    try {
      const provider = new FakeProvider('text', () => reply('one paid answer'));
      const world = makeWorld(tempDir(), { items: ['a', 'b'], provider, steps: [textStep({ prompt: 'The same prompt for every item.' })] });
      worlds.push(world);
      const executor = new OnlineExecutor({ ...world.context, cache });
      const first = executor.prepare([world.unit('a')]).call as PreparedCall;
      expect((await executor.fromCache(first)).rest).toBe(first);
      await executor.execute(first, (await world.lease()) as Leased);

      const second = executor.prepare([world.unit('b')]).call as PreparedCall;
      const cached = await executor.fromCache(second);

      expect(cached.rest).toBeUndefined();
      expect((await cached.settled).map((s) => s.verdict)).toEqual([{ kind: 'done' }]);
      expect(provider.requests).toHaveLength(1);
      expect(world.row('b')).toMatchObject({ state: 'done', cached: true, costUsd: 0, result: { text: 'one paid answer' } });
      // One call paid; the cached answer's row is no call.
      expect(world.store.ledger.totals()).toMatchObject({ requests: 1, unsettledCalls: 0 });
      expect(world.store.ledger.totals().costUsd).toBeCloseTo(world.catalog.cost(MODEL, REPLY_USAGE), 12);
    } finally {
      cache.close();
    }
  });
});
