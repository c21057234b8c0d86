import { join } from 'node:path';
import type { GoogleGenAI } from '@google/genai';
import { afterEach, beforeEach, vi } from 'vitest';
import type { ProjectCredentials } from '../../src/credentials/credentials.js';
import { ProjectPool, type Lease } from '../../src/coordination/project-pool.js';
import type { EngineEvents } from '../../src/engine/events.js';
import type { ExecutionContext } from '../../src/engine/executors/online-executor.js';
import type { Unit } from '../../src/engine/unit.js';
import { BudgetHold, BudgetHolds } from '../../src/engine/budget-hold.js';
import { Budget } from '../../src/estimate/budget.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import type { Job, Step } from '../../src/job/job.js';
import { AtomicWriter } from '../../src/outputs/atomic-write.js';
import { HeldReplies } from '../../src/outputs/held-replies.js';
import type { Provider, ProviderRequest, ProviderResult, TaskKind, Usage } from '../../src/providers/provider.js';
import { StateStore, type ItemRow, type ItemStepRow } from '../../src/store/state-store.js';
import { project } from '../helpers/project-credentials.js';

export { project };

/**
 * What the executors' unit tests share: a real StateStore on a file in a temp folder, a real
 * ProjectPool and PriceCatalog, and a fake provider (a plain object implementing genbatch's
 * Provider interface; the Google SDK is not involved at all). Time is vitest's fake clock: the
 * pool's limiters (Bottleneck) hop through setTimeout, cooldowns and durations read Date.now and
 * performance.now. setImmediate stays real: the store's group commit flushes on it.
 */
export const FAKED = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] as const;
export const T0 = Date.UTC(2025, 5, 10, 12, 0, 0); // 05:00 Pacific: far from a daily quota reset

/** Each test on fake timers from T0; the worlds it pushes here are closed after it. */
export function useFakeWorlds<W extends { close(): void }>(): W[] {
  const worlds: W[] = [];
  beforeEach(() => {
    vi.useFakeTimers({ toFake: [...FAKED], now: T0 });
  });
  afterEach(() => {
    for (const world of worlds.splice(0)) world.close();
    vi.useRealTimers();
  });
  return worlds;
}
export const RUN_ID = 'run-unit';
export const MODEL = 'gemini-2.5-flash';

export function textStep(over: Partial<Step> = {}): Step {
  return { name: 'write', task: 'text', model: MODEL, prompt: 'Write about {{slug}}.', params: {}, maxAttempts: 3, timeoutMs: 60_000, ...over };
}

export function makeJob(dir: string, steps: Step[], over: Partial<Job> = {}): Job {
  return {
    file: join(dir, 'job.yaml'),
    dir,
    name: 'executor-test',
    input: { file: join(dir, 'in.csv'), id: 'slug', delimiter: ',', onBadRow: 'fail' },
    credentialsFile: join(dir, 'credentials.yaml'),
    stateFile: join(dir, 'state.db'),
    outputDir: join(dir, 'out'),
    steps,
    styles: {},
    limits: { concurrency: 2, maxAttempts: 3, maxStallMs: 60_000, timeoutMs: 60_000, maxOutageMs: 600_000 },
    budget: { confirmAboveUsd: 0 },
    ...over,
  };
}

export function usage(over: Partial<Usage> = {}): Usage {
  return { inputTokens: 0, outputTokens: 0, thoughtsTokens: 0, images: 0, videoSeconds: 0, characters: 0, cachedTokens: 0, ...over };
}

/** How the fake provider answers its nth call (1-based): a result, or a thrown error. */
export type Answer = (request: ProviderRequest, nth: number) => ProviderResult | Promise<ProviderResult>;

/** A provider as genbatch defines one (src/providers/provider.ts): it records requests and answers from a script. */
export class FakeProvider implements Provider {
  readonly requests: ProviderRequest[] = [];
  constructor(
    readonly task: TaskKind,
    private readonly answer: Answer,
  ) {}

  async call(_client: GoogleGenAI, request: ProviderRequest): Promise<ProviderResult> {
    this.requests.push(request);
    return this.answer(request, this.requests.length);
  }
}

type Emitted = { [K in keyof EngineEvents]: { event: K; args: EngineEvents[K] } }[keyof EngineEvents];

export interface World {
  job: Job;
  store: StateStore;
  pool: ProjectPool;
  catalog: PriceCatalog;
  events: Emitted[];
  context: ExecutionContext;
  unit(itemId: string, step?: Step): Unit;
  /** A lease on the pool, taken in fake time (the limiter's hops run). Undefined when no project is ready. */
  lease(model?: string): Promise<Lease | undefined>;
  /** The item's row for a step, as the state file has it. */
  row(itemId: string, step?: string): ItemStepRow;
  close(): void;
}

export const catalog = PriceCatalog.load();

export function makeWorld(
  dir: string,
  options: { steps?: Step[]; items?: string[]; projects?: ProjectCredentials[]; provider?: Provider; job?: Partial<Job> },
): World {
  const steps = options.steps ?? [textStep()];
  const job = makeJob(dir, steps, options.job);
  const store = StateStore.open(job.stateFile);
  const items: ItemRow[] = (options.items ?? ['a']).map((id, ord) => ({ id, ord, line: ord + 2, values: { slug: id }, inputHash: `h-${id}` }));
  store.upsertItems(
    items,
    steps.map((s) => s.name),
    RUN_ID,
  );
  const pool = new ProjectPool(
    { file: job.credentialsFile, strategy: 'round-robin', projects: options.projects ?? [project('p1')] },
    // The client is handed to the provider, which is a fake here: nothing is sent anywhere.
    { createClient: (p) => ({ project: p.name }) as unknown as GoogleGenAI, now: () => Date.now() },
  );
  const events: Emitted[] = [];
  const writer = new AtomicWriter(join(dir, 'scratch'));
  const provider = options.provider;
  const context: ExecutionContext = {
    runId: RUN_ID,
    job,
    store,
    catalog,
    pool,
    writer,
    held: new HeldReplies(join(dir, 'held')),
    emit: (event, ...args) => events.push({ event, args } as Emitted),
    // The middle of each backoff's jitter: delays are exact.
    random: () => 0.5,
    ...(provider ? { providers: () => provider } : {}),
  };
  const signal = new AbortController().signal;
  return {
    job,
    store,
    pool,
    catalog,
    events,
    context,
    unit: (itemId, step = steps[0] as Step) => {
      const item = store.getItem(itemId) as ItemRow;
      const own = store.itemSteps(itemId).find((r) => r.step === step.name);
      return {
        item,
        step,
        context: { columns: item.values, steps: {}, styles: job.styles },
        attempts: own?.attempts ?? 0,
        operationName: undefined,
        operationProject: undefined,
      };
    },
    lease: async (model = steps[0]?.model ?? MODEL) => {
      const leased = pool.acquire(model, undefined, signal);
      await vi.advanceTimersByTimeAsync(50);
      return leased;
    },
    row: (itemId, step = steps[0]?.name ?? 'write') => {
      const row = store.itemSteps(itemId).find((r) => r.step === step);
      if (!row) throw new Error(`no row for ${itemId}/${step}`);
      return row;
    },
    close: () => {
      pool.detach();
      store.close();
    },
  };
}

/** A budget with a cap, and the settle callback the scheduler hands an executor for one reservation (settled once). */
export function budgetFor(maxUsd: number): { budget: Budget; holds: BudgetHolds; reserve(usd: number): Promise<BudgetHold> } {
  const budget = new Budget({ maxUsd }, 0, 0);
  const holds = new BudgetHolds(budget);
  return {
    budget,
    holds,
    /** A call's hold, as the call pipeline takes it before the call. */
    async reserve(usd: number) {
      const hold = await holds.reserve(usd);
      if (!(hold instanceof BudgetHold)) throw new Error(`the budget refused $${usd}`);
      return hold;
    },
  };
}
