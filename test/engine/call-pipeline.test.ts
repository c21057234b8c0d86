import { describe, expect, it, vi } from 'vitest';
import { BudgetHolds } from '../../src/engine/budget-hold.js';
import { CallPipeline, type DispatchHooks } from '../../src/engine/call-pipeline.js';
import { OnlineExecutor } from '../../src/engine/executors/online-executor.js';
import type { ParkedOperation, PreparedCall, Settled } from '../../src/engine/executors/step-executor.js';
import { OperationPoller } from '../../src/engine/operation-poller.js';
import { OnlineCalls } from '../../src/engine/online-calls.js';
import { newLane } from '../../src/engine/lane.js';
import { Budget } from '../../src/estimate/budget.js';
import { OutcomeUnknownError } from '../../src/errors/provider-errors.js';
import type { Provider, ProviderResult, VideoOperationStatus } from '../../src/providers/provider.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { FakeProvider, makeWorld, MODEL, textStep, usage, useFakeWorlds, type World } from './executor-world.js';

/**
 * The stages of one call and who settles its budget hold: the call pipeline (cache, hold, lease,
 * call) settles it from the settlement the executor returns; a video operation's hold goes with the
 * parked operation, and the poller settles it from its last poll. Real state file, pool, catalog and
 * budget; a fake provider; fake time.
 */
const tempDir = useTempDir();
const worlds = useFakeWorlds<World>();

const REPLY_USAGE = usage({ inputTokens: 1_000, outputTokens: 400 });
const reply = (text: string): ProviderResult => ({ text, usage: REPLY_USAGE, finishReason: 'STOP' });
const VEO = 'veo-3.0-generate-001';

function setup(provider: Provider, options: Parameters<typeof makeWorld>[1] = {}) {
  const world = makeWorld(tempDir(), { ...options, provider });
  worlds.push(world);
  const executor = new OnlineExecutor(world.context);
  return { world, executor };
}

/** Sends the unit's call through the pipeline, its lease's limiter hops run in fake time. */
async function send(world: World, pipeline: CallPipeline, call: PreparedCall, model = MODEL) {
  const hooks: DispatchHooks = { laneFree: () => undefined, servedBeside: () => undefined };
  const sent = pipeline.send(call, model, undefined, hooks);
  await vi.advanceTimersByTimeAsync(50);
  return sent;
}

describe('CallPipeline', () => {
  it("settles the call's budget hold at what the reply cost, once; a call that does not fit while others hold sends nothing", async () => {
    const { world, executor } = setup(new FakeProvider('text', () => reply('an answer')), { items: ['a', 'b'] });
    const a = executor.prepare([world.unit('a')]).call as PreparedCall;
    const worst = a.worstCaseUsd;
    const price = world.catalog.cost(MODEL, REPLY_USAGE);
    // Room for a's price and one and a half worst cases.
    const budget = new Budget({ maxUsd: price + worst * 1.5 }, 0, 0);
    const holds = new BudgetHolds(budget);
    const pipeline = new CallPipeline({ executor, holds, pool: world.pool, signal: new AbortController().signal });

    const sent = await send(world, pipeline, a);

    expect(sent.kind).toBe('settled');
    expect((sent as { settled: Settled[] }).settled.map((s) => s.verdict)).toEqual([{ kind: 'done' }]);
    expect(budget.holding).toBe(false);
    expect(holds.settles).toBe(1);
    // What is left is the cap less the price: the hold was replaced by what the call cost.
    expect(budget.reserve(worst * 1.5 + 1e-6)).toBeUndefined();
    const probe = budget.reserve(worst * 1.5 - 1e-6);
    expect(probe).toBeDefined();
    if (probe) budget.settle(probe, 0);

    // Another call in flight holds its worst case: b does not fit, and waits for it instead of stopping the run.
    const other = await holds.reserve(worst);
    expect(other).toBeDefined();
    const b = executor.prepare([world.unit('b')]).call as PreparedCall;
    const refused = await send(world, pipeline, b);
    expect(refused).toMatchObject({ kind: 'budget_refused', othersHolding: true });
    expect(world.row('b')).toMatchObject({ state: 'pending', attempts: 0 });
    expect(world.store.ledger.totals().requests).toBe(1);
  });

  it('a call whose outcome is unknown stays reserved at its worst case: its settlement says so', async () => {
    const { world, executor } = setup(
      new FakeProvider('text', () => {
        throw new OutcomeUnknownError('the call timed out after it was sent', {});
      }),
    );
    const call = executor.prepare([world.unit('a')]).call as PreparedCall;
    const budget = new Budget({ maxUsd: call.worstCaseUsd * 2 }, 0, 0);
    const holds = new BudgetHolds(budget);
    const pipeline = new CallPipeline({ executor, holds, pool: world.pool, signal: new AbortController().signal });

    await send(world, pipeline, call);

    expect(budget.holding).toBe(false);
    // Counted as spent at its worst case: room for one more worst case, not two.
    expect(budget.reserve(call.worstCaseUsd)).toBeDefined();
    expect(budget.reserve(call.worstCaseUsd / 10)).toBeUndefined();
    expect(world.store.ledger.totals()).toMatchObject({ unsettledCalls: 1, costUsd: 0 });
  });
});

describe('OperationPoller', () => {
  function videoWorld() {
    const polls: string[] = [];
    const video: Provider = {
      task: 'video',
      call: () => Promise.reject(new Error('a video is started and polled, never called')),
      start: () => Promise.resolve('operations/op-1'),
      poll: (_client, name): Promise<VideoOperationStatus> => {
        polls.push(name);
        if (polls.length < 2) return Promise.resolve({ done: false });
        return Promise.resolve({
          done: true,
          result: { media: [{ mimeType: 'video/mp4', data: Buffer.from('....ftypmp42 a video') }], usage: usage({ videoSeconds: 8 }) },
        });
      },
    };
    const { world, executor } = setup(video, {
      steps: [textStep({ name: 'clip', task: 'video', model: VEO, prompt: 'A clip about {{slug}}.', output: { file: '{{slug}}.mp4', post: [] } })],
    });
    return { world, executor, polls };
  }

  /**
   * Turns of the poller until it hands back settlements: each turn polls what is due, in fake time;
   * the files and the store's group commit are real I/O (awaited up to 20 s of real time on a loaded host).
   */
  async function turnsUntilSettled(poller: OperationPoller): Promise<Settled[]> {
    const deadline = process.hrtime.bigint() + 20_000_000_000n;
    while (process.hrtime.bigint() < deadline) {
      const turn = poller.turn(Date.now(), { drain: false, stopping: false });
      expect(turn.failed).toBeUndefined();
      if (turn.settled.length > 0) return turn.settled;
      await vi.advanceTimersByTimeAsync(100);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    throw new Error('the operation never ended');
  }

  it("a started operation keeps its call's hold while Vertex works; the poller settles it at the video's price when the operation ends", async () => {
    const { world, executor, polls } = videoWorld();
    const budget = new Budget({ maxUsd: 100 }, 0, 0);
    const holds = new BudgetHolds(budget);
    const pipeline = new CallPipeline({ executor, holds, pool: world.pool, signal: new AbortController().signal });
    const poller = new OperationPoller({ executor, pool: world.pool, holds, emit: world.context.emit });
    const unit = world.unit('a');
    const call = executor.prepare([unit]).call as PreparedCall;

    const sent = await send(world, pipeline, call, VEO);

    const verdict = (sent as { settled: Settled[] }).settled[0]?.verdict;
    expect(verdict?.kind).toBe('parked');
    const operation = (verdict as { operation: ParkedOperation }).operation;
    expect(operation.hold).toBeDefined();
    // Nothing settled yet: the worst case is held while the video is made.
    expect(budget.holding).toBe(true);
    expect(holds.settles).toBe(0);

    poller.park(operation, [unit]);
    expect(poller.busy).toBe(true);
    const settled = await turnsUntilSettled(poller);

    expect(settled.map((s) => s.verdict)).toEqual([{ kind: 'done' }]);
    expect(polls).toEqual(['operations/op-1', 'operations/op-1']);
    expect(budget.holding).toBe(false);
    expect(holds.settles).toBe(1);
    const price = world.catalog.cost(VEO, usage({ videoSeconds: 8 }), { withAudio: true });
    expect(world.store.ledger.totals().costUsd).toBeCloseTo(price, 12);
    expect(poller.busy).toBe(false);
  });

  it("takes a unit whose operation an earlier run started: its worst case is held again (already counted), and a stopping run's turn starts no poll", async () => {
    const { world, executor, polls } = videoWorld();
    const call = executor.prepare([world.unit('a')]).call as PreparedCall;
    const lease = await world.lease(VEO);
    if (!lease) throw new Error('no project was ready');
    await executor.execute(call, lease);
    // The run dies with the operation running; the next one finds its name in the state.
    world.store.recoverAbandoned('run-next');
    const row = world.row('a', 'clip');
    const unit = { ...world.unit('a'), operationName: row.operationName ?? undefined, operationProject: row.project ?? undefined };
    const spent = world.store.spentUsd();
    expect(spent).toBeCloseTo(call.worstCaseUsd, 12);
    // The next run's budget reads the intent row as spent.
    const budget = new Budget({ maxUsd: 100 }, spent, spent);
    const poller = new OperationPoller({ executor, pool: world.pool, holds: new BudgetHolds(budget), emit: world.context.emit });

    expect(poller.takes(unit)).toBe(true);
    expect(poller.takes(world.unit('a'))).toBe(false);
    poller.add(unit);

    expect(budget.holding).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(poller.turn(Date.now(), { drain: false, stopping: true })).toEqual({ settled: [], nextAt: Number.POSITIVE_INFINITY });
    expect(polls).toEqual([]);
    const settled = await turnsUntilSettled(poller);
    expect(settled.map((s) => s.verdict)).toEqual([{ kind: 'done' }]);
    expect(budget.holding).toBe(false);
    // Moved from spent to held and back at the price: the worst case is not counted twice.
    const price = world.catalog.cost(VEO, usage({ videoSeconds: 8 }), { withAudio: true });
    expect(budget.reserve(100 - price - 1e-6)).toBeDefined();
  });
});

/** Fake time moves until the calls in flight have ended (their checkpoints are real I/O: up to 20 s of real time). */
async function untilIdle(online: OnlineCalls): Promise<void> {
  const deadline = process.hrtime.bigint() + 20_000_000_000n;
  do {
    await vi.advanceTimersByTimeAsync(10);
    await new Promise<void>((resolve) => setImmediate(resolve));
  } while (online.inFlight > 0 && process.hrtime.bigint() < deadline);
  expect(online.inFlight).toBe(0);
}

describe('OnlineCalls', () => {
  it('sends no call while the budget waits for a hold to settle, and hands every settlement back at its next turn', async () => {
    const { world, executor } = setup(new FakeProvider('text', () => reply('an answer')), { items: ['a', 'b', 'c'] });
    const worst = (executor.prepare([world.unit('a')]).call as PreparedCall).worstCaseUsd;
    // Room for one worst case and a bit: while one call holds it, the next does not fit.
    const budget = new Budget({ maxUsd: worst * 1.5 }, 0, 0);
    const holds = new BudgetHolds(budget);
    const refused: number[] = [];
    const online = new OnlineCalls({
      executor,
      holds,
      pool: world.pool,
      signal: new AbortController().signal,
      concurrency: 4,
      onBudgetRefused: (usd) => refused.push(usd),
    });
    const lane = newLane(world.job, world.unit('a'));
    lane.ready.push(world.unit('a'), world.unit('b'), world.unit('c'));
    const held = await holds.reserve(worst);
    if (!held || held === 'retry_later') throw new Error('the budget refused the first hold');

    online.dispatch(lane, MODEL);
    await untilIdle(online);

    // a did not fit: back at the front of its lane, and no call goes until a hold settles.
    expect(online.inFlight).toBe(0);
    expect(lane.ready.map((u) => u.item.id)).toEqual(['a', 'b', 'c']);
    expect(online.open).toBe(false);
    expect(refused).toEqual([]);
    held.settle(0);
    expect(online.open).toBe(true);

    online.dispatch(lane, MODEL);
    expect(online.inFlight).toBe(1);
    await untilIdle(online);
    const turn = online.turn();
    expect(turn.settled.map((s) => [s.unit.item.id, s.verdict.kind])).toEqual([['a', 'done']]);
    expect(online.turn().settled).toEqual([]);
    expect(budget.holding).toBe(false);
  });
});
