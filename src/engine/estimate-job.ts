import { videoWithAudio } from '../providers/veo-limits.js';
import type { Credentials } from '../credentials/credentials.js';
import { declaredIntervalMs } from '../coordination/model-limiter.js';
import { quotaFor } from '../credentials/credentials.js';
import { inputOptionsOf } from '../input/index.js';
import type { PreparedJob } from './prepare-job.js';
import { openInput } from '../input/index.js';
import type { Step } from '../job/job.js';
import { parseTemplateVars, renderTemplate, type TemplateContext } from '../job/template.js';
import type { CostReadModel } from '../store/interfaces/cost-read-model.js';
import type { WorkItems } from '../store/interfaces/work-items.js';
import type { PriceCatalog } from '../estimate/price-catalog.js';
import { candidates, declaredOutputTokens, declaredThinkingTokens, itemsPerRequest, requestsFor, usageOf } from '../estimate/step-usage.js';
import type { TokenCounter, TokenCountMethod } from '../estimate/token-counter.js';

/** What an estimate reads of an existing state: what is left, and what finished items cost. */
type EstimateState = CostReadModel & WorkItems;

export interface Range {
  low: number;
  expected: number;
  high: number;
}

export interface StepEstimate {
  step: string;
  task: string;
  model: string;
  /** Items still to do for this step. */
  items: number;
  /** Requests they take: as many as items, but fewer for batched steps (embeddings, `batch_size` per request). */
  requests: number;
  input_tokens: number;
  /** Reply tokens, thinking included. */
  output_tokens: Range;
  /** Of which thinking, from the thinking budget (not split out after a pilot: its measured output includes it). */
  thinking_tokens: Range;
  usd: Range;
  /** Where the output figures come from: the step's declaration, typical sizes, or a pilot's measurements. */
  basis: 'max_output_tokens' | 'typical' | 'fixed' | 'pilot';
  /** What the items left would cost on each `fallback:` model instead (used only while `model` cannot be served). */
  fallbacks?: { model: string; usd: Range }[];
  /** Items of `items` whose answer the response cache holds: $0 and no call, left out of the figures above (src/engine/cached-answers.ts). */
  cached_items?: number;
}

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

const round = (n: number): number => Math.round(n * 1e4) / 1e4;
const rangeOf = (low: number, expected: number, high: number): Range => ({ low: round(low), expected: round(expected), high: round(high) });

/** A stand-in for an earlier step's result: its fields render empty; their size is added separately. */
const EMPTY_RESULT = new Proxy({}, { get: () => '' });

interface Measured {
  calls: number;
  meanUsd: number;
  sdUsd: number;
  meanOutput: number;
  meanDurationMs: number;
}

/** Per step: the cost of every call made so far per finished step (retries included), from the ledger. */
function measure(store: EstimateState, step: string): Measured | undefined {
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
  // With a limit below what is left, only the next `limit` items: what that run will do and confirm.
  const scope = store && limit !== undefined && limit < store.pendingItemCount() ? limitedScope(store, job.steps, limit) : undefined;
  const remaining = scope?.remaining ?? remainingByStep(store, job.steps, Math.min(prepared.rows, limit ?? Infinity));
  const remainingItems = scope?.items ?? Math.min(store ? store.steps.unfinishedItemCount() : prepared.rows, limit ?? Infinity);

  // Expected output per step first: later steps' prompts include earlier steps' fields.
  const measured = new Map<string, Measured>();
  if (store)
    for (const step of job.steps) {
      const m = measure(store, step.name);
      if (m) measured.set(step.name, m);
    }
  const expectedOutput = new Map(job.steps.map((s) => [s.name, measured.get(s.name)?.meanOutput ?? declaredOutputTokens(s, catalog)[1]]));

  // Prompt tokens per item, counted on a sample of the items left (all of them up to SAMPLE_ITEMS).
  const inputTokens = new Map(job.steps.map((s) => [s.name, 0]));
  let sampled = 0;
  const rows = scope ? scope.sample : sampleRows(prepared, store, limit);
  for await (const values of rows) {
    sampled += 1;
    const context: TemplateContext = { columns: values, steps: {}, styles: job.styles };
    for (const step of job.steps) {
      context.steps[step.name] = EMPTY_RESULT;
    }
    for (const step of job.steps) {
      const text =
        renderTemplate(step.prompt, context) +
        (step.system ? renderTemplate(step.system, context) : '') +
        (step.jsonSchema ? JSON.stringify(step.jsonSchema) : '');
      let tokens = await counter.count(step.model, text);
      for (const v of parseTemplateVars(step.prompt + (step.system ?? ''))) {
        if (v.kind !== 'step') continue;
        const source = job.steps.find((s) => s.name === v.step);
        const fields = Math.max(1, Object.keys((source?.jsonSchema?.properties as object | undefined) ?? {}).length);
        tokens += (expectedOutput.get(v.step) ?? 0) / fields;
      }
      inputTokens.set(step.name, (inputTokens.get(step.name) ?? 0) + tokens);
    }
  }

  const byStep: StepEstimate[] = [];
  for (const step of job.steps) {
    const n = remaining[step.name] ?? 0;
    const perItemInput = n > 0 ? (inputTokens.get(step.name) ?? 0) / Math.max(1, sampled) : 0;
    const withAudio = videoWithAudio(step.model, step.params);
    const m = measured.get(step.name);
    const requests = requestsFor(step, n);
    const common = { step: step.name, task: step.task, model: step.model, items: n, requests, input_tokens: Math.round(perItemInput * n) };
    const output = declaredOutputTokens(step, catalog);
    const thinking = declaredThinkingTokens(step, catalog);
    // What the items left cost on a model, from the step's declared (or typical) sizes.
    const costOn = (model: string, i: 0 | 1 | 2): number => {
      const on = { ...step, model };
      const usage = usageOf(on, perItemInput, declaredOutputTokens(on, catalog)[i], catalog);
      usage.thoughtsTokens = declaredThinkingTokens(on, catalog)[i];
      // A step in batch (auto: when at least batch.min_items wait) is priced at the batch price.
      const batch = step.mode === 'batch' || (step.mode === 'auto' && n >= (job.batch?.minItems ?? 1000));
      return n * (batch ? catalog.batchCost(model, usage) : catalog.cost(model, usage, { withAudio }));
    };
    const fallbacks = (step.fallback ?? []).map((model) => ({ model, usd: rangeOf(costOn(model, 0), costOn(model, 1), costOn(model, 2)) }));
    if (m && n > 0) {
      // The ledger has one row per request (on the first item of a batch): what was measured is a
      // request's cost, so a batched step is scaled by its requests, not its items.
      const k = itemsPerRequest(step) > 1 ? requests : n;
      // The sum of k more: spread of single ones, plus the uncertainty of the measured mean.
      const sd = Math.sqrt(k * m.sdUsd ** 2 + (k * m.sdUsd) ** 2 / m.calls);
      const expected = k * m.meanUsd;
      const output = m.meanOutput * k;
      byStep.push({
        ...common,
        output_tokens: rangeOf(output, output, output),
        thinking_tokens: rangeOf(0, 0, 0),
        usd: rangeOf(Math.max(0, expected - 1.96 * sd), expected, expected + 1.96 * sd),
        basis: 'pilot',
        ...(fallbacks.length > 0 ? { fallbacks } : {}),
      });
      continue;
    }
    const total = (i: 0 | 1 | 2): number => (output[i] + thinking[i]) * n;
    byStep.push({
      ...common,
      output_tokens: rangeOf(total(0), total(1), total(2)),
      thinking_tokens: rangeOf(thinking[0] * n, thinking[1] * n, thinking[2] * n),
      usd: rangeOf(costOn(step.model, 0), costOn(step.model, 1), costOn(step.model, 2)),
      basis: step.task !== 'text' ? 'fixed' : step.maxOutputTokens !== undefined ? 'max_output_tokens' : 'typical',
      ...(fallbacks.length > 0 ? { fallbacks } : {}),
    });
  }

  const spent = store ? store.spentUsd() : 0;
  const remainingUsd = byStep.reduce((acc, s) => ({ low: acc.low + s.usd.low, expected: acc.expected + s.usd.expected, high: acc.high + s.usd.high }), {
    low: 0,
    expected: 0,
    high: 0,
  });

  // Requests per project (spread evenly for now) and an ETA from the declared quotas.
  const projects = options.credentials.projects.filter((p) => p.enabled && (job.pool === undefined || p.pool === job.pool));
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

  const pilotSteps = Object.fromEntries([...measured].map(([name, m]) => [name, { calls: m.calls, mean_usd: round(m.meanUsd), sd_usd: round(m.sdUsd) }]));
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
    requests_by_project: requests,
    eta_seconds: etaSeconds === null ? null : Math.round(etaSeconds),
    eta_basis: etaSeconds === null ? 'unknown' : etaBasis,
    eta_unknown_models: [...etaUnknown],
    prices_as_of: catalog.asOf,
  };
}
