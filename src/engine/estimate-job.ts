import type { Credentials } from '../credentials/credentials.js';
import { declaredIntervalMs } from '../coordination/model-limiter.js';
import { quotaFor } from '../credentials/credentials.js';
import { inputOptionsOf } from '../input/index.js';
import type { PreparedJob } from './prepare-job.js';
import { openInput } from '../input/index.js';
import type { Step } from '../job/job.js';
import type { CostReadModel } from '../store/interfaces/cost-read-model.js';
import type { WorkItems } from '../store/interfaces/work-items.js';
import type { PriceCatalog } from '../estimate/price-catalog.js';
import { candidates, declaredOutputTokens, requestsFor } from '../estimate/step-usage.js';
import type { TokenCounter, TokenCountMethod } from '../estimate/token-counter.js';
import { estimateStep, rangeOf, round, withContextCache, type MeasuredCost, type Range, type StepEstimate } from '../estimate/step-estimate.js';
import { contextCachePlan } from '../estimate/context-cache-plan.js';
import { staticPrefix } from '../job/static-prefix.js';
import { countPromptTokens } from '../estimate/prompt-tokens.js';
import { withCheckCosts } from '../estimate/check-costs.js';

export type { Range, StepEstimate } from '../estimate/step-estimate.js';

/** What an estimate reads of an existing state: what is left, and what finished items cost. */
type EstimateState = CostReadModel & WorkItems;

export interface JobEstimate {
  job: string;
  items: number;
  /** Items with work left that this estimate covers (with `limit`, the first N of them). */
  remaining_items: number;
  /** `run --limit N`: only the next N items with work left are estimated. */
  limit: number | null;
  spent_usd: number;
  /** Spent so far plus the estimate of what is left. */
  total_usd: Range;
  remaining_usd: Range;
  by_step: StepEstimate[];
  token_count_method: TokenCountMethod;
  pilot: null | { items: number; by_step: Record<string, { calls: number; mean_usd: number; sd_usd: number }> };
  requests_by_project: Record<string, number>;
  eta_seconds: number | null;
  eta_basis: 'declared_quotas' | 'pilot' | 'unknown';
  /** Models with work left whose pace is unknown (no quota declared for them, nothing measured): why eta_seconds is null. */
  eta_unknown_models: string[];
  prices_as_of: string;
  /** Answers of the items left that the response cache holds (counted at $0), of all the answers they need; absent when not looked up. */
  cached_answers?: { answers: number; of: number };
}

/** Per step: the cost of every call made so far per finished step (retries included), from the ledger. */
function measure(store: EstimateState, step: string): MeasuredCost | undefined {
  const done = store.steps.finishedCount(step);
  if (done === 0) return undefined;
  const stats = store.ledger.finishedItemCostStats(step);
  if (stats.items === 0) return undefined;
  return {
    calls: stats.items,
    meanUsd: stats.meanUsd,
    // One item says nothing of the spread: assume a half-mean standard deviation.
    sdUsd: stats.items > 1 ? stats.sdUsd : stats.meanUsd / 2,
    meanOutput: stats.meanOutputTokens,
    meanDurationMs: stats.meanDurationMs,
  };
}

/** Items whose prompts are counted: beyond this, a sample spread over the input stands for the rest. */
const SAMPLE_ITEMS = 2000;

/**
 * The rows to count prompt tokens on: with a state, the items with a step left to do (from the
 * state: a sample spread over them when there are more than SAMPLE_ITEMS); without one, every k-th
 * row of the input (of its first `limit` rows). Never every row of a huge input in memory, nor a
 * token count per row.
 */
async function* sampleRows(prepared: PreparedJob, store: EstimateState | undefined, limit?: number): AsyncGenerator<Record<string, string>> {
  if (store) {
    for (const item of store.sampleUnfinishedItems(SAMPLE_ITEMS)) yield item.values;
    return;
  }
  const rows = Math.min(prepared.rows, limit ?? Infinity);
  const every = Math.max(1, Math.floor(rows / SAMPLE_ITEMS));
  const opened = await openInput(inputOptionsOf(prepared.job));
  let index = 0;
  for await (const record of opened.records()) {
    if (index >= rows) break;
    if (index++ % every === 0) yield record.values;
  }
}

/** Items read per page when a `limit` scopes the estimate to the next items. */
const PAGE = 1000;

interface Scope {
  items: number;
  remaining: Record<string, number>;
  sample: Record<string, string>[];
}

/**
 * `run --limit N`: the first N items with work left, in the order the engine takes them, with
 * their steps still to do, and a sample of their rows to count prompt tokens on.
 */
function limitedScope(store: EstimateState, steps: Step[], limit: number): Scope {
  const remaining: Record<string, number> = Object.fromEntries(steps.map((s) => [s.name, 0]));
  const items: { values: Record<string, string> }[] = [];
  let cursor = -1;
  while (items.length < limit) {
    const page = store.pendingItems(cursor, Math.min(PAGE, limit - items.length));
    if (page.length === 0) break;
    for (const item of page) {
      cursor = item.ord;
      items.push(item);
      for (const row of store.itemSteps(item.id)) {
        if ((row.state === 'pending' || row.state === 'running') && row.step in remaining) remaining[row.step] = (remaining[row.step] ?? 0) + 1;
      }
    }
  }
  const every = Math.max(1, Math.floor(items.length / SAMPLE_ITEMS));
  return { items: items.length, remaining, sample: items.filter((_, i) => i % every === 0).map((item) => item.values) };
}

function remainingByStep(store: EstimateState | undefined, steps: Step[], rows: number): Record<string, number> {
  const remaining: Record<string, number> = Object.fromEntries(steps.map((s) => [s.name, rows]));
  if (!store) return remaining;
  for (const step of steps) {
    remaining[step.name] = store.steps.unfinishedCount(step.name);
  }
  return remaining;
}

/** What the estimate measures, counts and reads before pricing each step. */
interface EstimateBasis {
  scope: Scope | undefined;
  remaining: Record<string, number>;
  remainingItems: number;
  measured: Map<string, MeasuredCost>;
}

/** The items the estimate covers (all with work left, or the next `limit`), and what earlier calls measured. */
function estimateBasis(prepared: PreparedJob, store: EstimateState | undefined, limit: number | undefined): EstimateBasis {
  const { job } = prepared;
  // With a limit below what is left, only the next `limit` items: what that run will do and confirm.
  const scope = store && limit !== undefined && limit < store.pendingItemCount() ? limitedScope(store, job.steps, limit) : undefined;
  const remaining = scope?.remaining ?? remainingByStep(store, job.steps, Math.min(prepared.rows, limit ?? Infinity));
  const remainingItems = scope?.items ?? Math.min(store ? store.steps.unfinishedItemCount() : prepared.rows, limit ?? Infinity);
  const measured = new Map<string, MeasuredCost>();
  if (store)
    for (const step of job.steps) {
      const m = measure(store, step.name);
      if (m) measured.set(step.name, m);
    }
  return { scope, remaining, remainingItems, measured };
}

/** Requests per project (spread evenly for now) and an ETA from the declared quotas (else a pilot's durations). */
function requestsAndEta(
  job: PreparedJob['job'],
  credentials: Credentials,
  remaining: Record<string, number>,
  measured: ReadonlyMap<string, MeasuredCost>,
): Pick<JobEstimate, 'requests_by_project' | 'eta_seconds' | 'eta_basis' | 'eta_unknown_models'> {
  const projects = credentials.projects.filter((p) => p.enabled && (job.pool === undefined || p.pool === job.pool));
  const requests: Record<string, number> = Object.fromEntries(projects.map((p) => [p.name, 0]));
  let etaSeconds: number | null = 0;
  let etaBasis: JobEstimate['eta_basis'] = 'declared_quotas';
  const etaUnknown = new Set<string>();
  for (const step of job.steps) {
    const items = remaining[step.name] ?? 0;
    const calls = step.task === 'image' && step.model.startsWith('gemini') ? items * candidates(step) : requestsFor(step, items);
    for (const p of projects) requests[p.name] = (requests[p.name] ?? 0) + calls / Math.max(1, projects.length);
    const rate = projects.reduce((sum, p) => {
      const interval = declaredIntervalMs(quotaFor(p, step.model));
      return interval === undefined ? NaN : sum + 1000 / interval;
    }, 0);
    const m = measured.get(step.name);
    if (Number.isFinite(rate) && rate > 0) {
      if (etaSeconds !== null) etaSeconds = Math.max(etaSeconds, calls / rate);
    } else if (m) {
      if (etaSeconds !== null) {
        etaBasis = 'pilot';
        etaSeconds = Math.max(etaSeconds, (calls * m.meanDurationMs) / 1000 / job.limits.concurrency);
      }
    } else if (calls > 0) {
      // Unknown for this step's model only: the steps whose quotas are declared are not called unknown.
      etaSeconds = null;
      etaUnknown.add(step.model);
    }
  }
  for (const key of Object.keys(requests)) requests[key] = Math.round(requests[key] ?? 0);
  return {
    requests_by_project: requests,
    eta_seconds: etaSeconds === null ? null : Math.round(etaSeconds),
    eta_basis: etaSeconds === null ? 'unknown' : etaBasis,
    eta_unknown_models: [...etaUnknown],
  };
}

/** A call's typical duration, for the run's length when no quota is declared and nothing was measured. */
const TYPICAL_CALL_SECONDS = 5;

/**
 * A text step's estimate with its context-cache plan (src/estimate/context-cache-plan.ts): the
 * static prefix counted once, the discount on the items left against the storage for the run's
 * expected duration in each project the step's pool spreads over, and under `mode: auto` the cheaper mode.
 */
async function planContextCache(
  prepared: PreparedJob,
  estimate: StepEstimate,
  input: Parameters<typeof estimateStep>[0],
  counter: TokenCounter,
  etaSeconds: number | null,
): Promise<StepEstimate> {
  const { job, credentials } = prepared;
  const { step, items } = input;
  if (step.task !== 'text' || items === 0 || !input.catalog.contextCachePrices(step.model)) return estimate;
  const prefix = staticPrefix(step, job.styles);
  const prefixTokens = await counter.count(step.model, (prefix.system ?? '') + prefix.leading);
  const pool = step.pool ?? job.pool;
  const places = new Set(credentials.projects.filter((p) => p.enabled && (pool === undefined || p.pool === pool)).map((p) => `${p.project}/${p.location}`));
  const seconds = etaSeconds ?? (items * TYPICAL_CALL_SECONDS) / Math.max(1, job.limits.concurrency);
  const batchAuto = step.mode === 'auto' && items >= input.batchMinItems;
  const online = batchAuto ? estimateStep({ ...input, batchMinItems: Number.POSITIVE_INFINITY }) : undefined;
  const plan = contextCachePlan({
    step,
    items,
    prefixTokens,
    catalog: input.catalog,
    caches: Math.max(1, places.size),
    seconds,
    onlineUsd: (online ?? estimate).usd.expected,
    ...(batchAuto ? { batchUsd: estimate.usd.expected } : {}),
  });
  return withContextCache(estimate, plan, online);
}

/**
 * What a job will cost before it is run (or what is left of it): prompt tokens counted on every
 * item, output from the step's declaration or typical sizes, images and seconds times their
 * prices. After a pilot, each step's measured cost per item replaces the guess, with an interval.
 */
export async function estimateJob(
  prepared: PreparedJob,
  options: { store?: EstimateState; counter: TokenCounter; catalog: PriceCatalog; credentials: Credentials; pilotItems?: number; limit?: number },
): Promise<JobEstimate> {
  const { job } = prepared;
  const { store, counter, catalog, limit } = options;
  const { scope, remaining, remainingItems, measured } = estimateBasis(prepared, store, limit);
  // Expected output per step first: later steps' prompts include earlier steps' fields.
  const expectedOutput = new Map(job.steps.map((s) => [s.name, measured.get(s.name)?.meanOutput ?? declaredOutputTokens(s, catalog)[1]]));
  // Prompt tokens per item, counted on a sample of the items left (all of them up to SAMPLE_ITEMS).
  const prompts = await countPromptTokens(job, scope ? scope.sample : sampleRows(prepared, store, limit), counter, expectedOutput);
  const timing = requestsAndEta(job, options.credentials, remaining, measured);
  const byStep: StepEstimate[] = [];
  for (const step of job.steps) {
    const n = remaining[step.name] ?? 0;
    const perItemInput = n > 0 ? (prompts.byStep.get(step.name) ?? 0) / Math.max(1, prompts.sampled) : 0;
    const input = { step, items: n, perItemInput, measured: measured.get(step.name), catalog, batchMinItems: job.batch?.minItems ?? 1000 };
    // Judges and expected regenerations first (issue 28), then the context cache's discount and storage (issue 29).
    const estimate = withCheckCosts(estimateStep(input), step, perItemInput, catalog);
    byStep.push(await planContextCache(prepared, estimate, input, counter, timing.eta_seconds));
  }
  const spent = store ? store.spentUsd() : 0;
  const remainingUsd = byStep.reduce((acc, s) => ({ low: acc.low + s.usd.low, expected: acc.expected + s.usd.expected, high: acc.high + s.usd.high }), {
    low: 0,
    expected: 0,
    high: 0,
  });
  const pilotSteps = Object.fromEntries([...measured].map(([name, m]) => [name, { calls: m.calls, mean_usd: round(m.meanUsd), sd_usd: round(m.sdUsd) }]));
  const { requests_by_project, eta_seconds, eta_basis, eta_unknown_models } = timing;
  return {
    job: job.name,
    items: prepared.rows,
    remaining_items: remainingItems,
    limit: limit ?? null,
    spent_usd: round(spent),
    total_usd: rangeOf(spent + remainingUsd.low, spent + remainingUsd.expected, spent + remainingUsd.high),
    remaining_usd: rangeOf(remainingUsd.low, remainingUsd.expected, remainingUsd.high),
    by_step: byStep,
    token_count_method: counter.method,
    // Only a pilot that ran now is one: measurements of earlier runs calibrate too, but are not called a pilot.
    pilot: measured.size > 0 && options.pilotItems ? { items: options.pilotItems, by_step: pilotSteps } : null,
    requests_by_project,
    eta_seconds,
    eta_basis,
    eta_unknown_models,
    prices_as_of: catalog.asOf,
  };
}
