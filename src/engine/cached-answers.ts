import { cacheKeyer } from '../cache/cache-key.js';
import { ResponseCache } from '../cache/response-cache.js';
import type { PriceCatalog } from '../estimate/price-catalog.js';
import { thinkingBudgetOf } from '../estimate/step-usage.js';
import { inputOptionsOf, openInput } from '../input/index.js';
import { cachesResponses, type Job, type Step } from '../job/job.js';
import { parseTemplateVars, renderTemplate, type TemplateContext } from '../job/template.js';
import type { WorkItems } from '../store/interfaces/work-items.js';
import type { JobEstimate, Range } from './estimate-job.js';
import type { PreparedJob } from './prepare-job.js';

/** Items read (and keys looked up) per page: one SQLite statement per 500 keys, never every key in memory. */
const PAGE = 1000;

/**
 * Whether the run would ask the response cache for this step's answers: steps that cache (text,
 * JSON and embeddings by default; images and video with `cache: true`) sent online. Batch prediction
 * does not read the cache.
 */
const lookedUp = (step: Step): boolean => cachesResponses(step) && step.mode !== 'batch' && step.mode !== 'auto';

/** The earlier steps whose output a step's request is rendered from (its prompt and system instruction). */
const stepInputs = (step: Step): string[] => parseTemplateVars(step.prompt + (step.system ?? '')).flatMap((v) => (v.kind === 'step' ? [v.step] : []));

/**
 * A step's cache key for an item, as the online executor would look it up: renderStep's request
 * (src/engine/render-step.ts) plus the thinking budget it adds (src/engine/executors/online-executor.ts).
 * The members every item shares are written once (cacheKeyer); each item renders only its prompt and system.
 */
function stepKeyer(step: Step, catalog: PriceCatalog): (context: TemplateContext) => string | undefined {
  const keyer = cacheKeyer({
    task: step.task,
    model: step.model,
    prompt: '',
    params: step.params,
    ...(step.jsonSchema === undefined ? {} : { jsonSchema: step.jsonSchema }),
    ...(step.maxOutputTokens === undefined ? {} : { maxOutputTokens: step.maxOutputTokens }),
    ...(step.temperature === undefined ? {} : { temperature: step.temperature }),
    ...(step.task === 'text' ? { thinkingBudget: thinkingBudgetOf(step, catalog) } : {}),
  });
  return (context) => {
    try {
      const prompt = renderTemplate(step.prompt, context);
      return keyer({
        prompt,
        ...(step.system === undefined ? {} : { system: renderTemplate(step.system, context) }),
        ...(step.task === 'embedding' ? { texts: [prompt] } : {}),
      });
    } catch {
      // A template value missing for this item: the run fails the step without a call; not an answer either way.
      return undefined;
    }
  };
}

/**
 * Per step, how many of the items left the response cache would answer at $0: each item's request
 * is rendered and its key looked up (a page of keys per statement), nothing served, nothing recorded
 * as used. A step rendered from an earlier step's output is counted only where that output is
 * already in the state (a done step): otherwise its request is not known before the run.
 */
export async function countCachedAnswers(
  prepared: PreparedJob,
  cache: ResponseCache,
  options: { store?: WorkItems; catalog: PriceCatalog; limit?: number },
): Promise<Record<string, number>> {
  const { job } = prepared;
  const counts: Record<string, number> = Object.fromEntries(job.steps.map((s) => [s.name, 0]));
  if (!job.steps.some(lookedUp)) return counts;
  const inputs = new Map(job.steps.map((s) => [s.name, stepInputs(s)]));
  const keyers = new Map(job.steps.filter(lookedUp).map((s) => [s.name, stepKeyer(s, options.catalog)]));
  const limit = options.limit ?? Infinity;
  const pending: { step: string; key: string }[] = [];
  const flush = (): void => {
    const found = cache.has(pending.map((p) => p.key));
    for (const p of pending) if (found.has(p.key)) counts[p.step] = (counts[p.step] ?? 0) + 1;
    pending.length = 0;
  };
  /** An item's steps still to do, each looked up if its request can be rendered now. */
  const visit = (context: TemplateContext, stateOf: (step: string) => { state: string; result: unknown; noCache: boolean } | undefined): void => {
    for (const step of job.steps) {
      const row = stateOf(step.name);
      if (row?.state === 'done') {
        context.steps[step.name] = row.result as Record<string, unknown>;
        continue;
      }
      // A failed or filtered step blocks the item's later steps.
      if (row && row.state !== 'pending' && row.state !== 'running') return;
      // Put back to be redone (retry): answered by a call, never the cache.
      if (row?.noCache || !lookedUp(step) || !(inputs.get(step.name) ?? []).every((s) => context.steps[s] !== undefined)) continue;
      const key = keyers.get(step.name)?.(context);
      if (key !== undefined) pending.push({ step: step.name, key });
    }
  };

  const { store } = options;
  if (store) {
    let cursor = -1;
    let seen = 0;
    while (seen < limit) {
      const page = store.pendingItems(cursor, Math.min(PAGE, limit - seen));
      if (page.length === 0) break;
      for (const item of page) {
        cursor = item.ord;
        seen += 1;
        const rows = store.itemSteps(item.id);
        visit({ columns: item.values, steps: {}, styles: job.styles }, (name) => rows.find((r) => r.step === name));
      }
      flush();
    }
    return counts;
  }
  // No state yet: every row of the input (its first `limit`), no step done.
  const rows = Math.min(prepared.rows, limit);
  const opened = await openInput(inputOptionsOf(job));
  let index = 0;
  for await (const record of opened.records()) {
    if (index++ >= rows) break;
    visit({ columns: record.values, steps: {}, styles: job.styles }, () => undefined);
    if (pending.length >= PAGE) flush();
  }
  flush();
  return counts;
}

const round = (n: number): number => Math.round(n * 1e4) / 1e4;
const scaled = (r: Range, k: number): Range => ({ low: round(r.low * k), expected: round(r.expected * k), high: round(r.high * k) });

/**
 * The estimate with the answers the response cache holds taken out: they cost $0 and take no call.
 * Says how many (`cached_answers`: N of the M answers the items left need).
 */
export function withCachedAnswers(estimate: JobEstimate, cached: Record<string, number>): JobEstimate {
  let answers = 0;
  let of = 0;
  let requestsBefore = 0;
  let requestsAfter = 0;
  const byStep = estimate.by_step.map((s) => {
    const hits = Math.min(cached[s.step] ?? 0, s.items);
    answers += hits;
    of += s.items;
    requestsBefore += s.requests;
    if (hits === 0) {
      requestsAfter += s.requests;
      return s;
    }
    const paid = (s.items - hits) / s.items;
    const requests = Math.ceil(s.requests * paid);
    requestsAfter += requests;
    return {
      ...s,
      requests,
      cached_items: hits,
      input_tokens: Math.round(s.input_tokens * paid),
      output_tokens: scaled(s.output_tokens, paid),
      thinking_tokens: scaled(s.thinking_tokens, paid),
      usd: scaled(s.usd, paid),
      ...(s.fallbacks ? { fallbacks: s.fallbacks.map((f) => ({ ...f, usd: scaled(f.usd, paid) })) } : {}),
    };
  });
  const remaining = byStep.reduce((sum, s) => ({ low: sum.low + s.usd.low, expected: sum.expected + s.usd.expected, high: sum.high + s.usd.high }), {
    low: 0,
    expected: 0,
    high: 0,
  });
  // Calls left, and so the time they take, shrink with the answers the cache gives.
  const callShare = requestsBefore > 0 ? requestsAfter / requestsBefore : 1;
  return {
    ...estimate,
    by_step: byStep,
    remaining_usd: scaled(remaining, 1),
    total_usd: scaled(
      { low: estimate.spent_usd + remaining.low, expected: estimate.spent_usd + remaining.expected, high: estimate.spent_usd + remaining.high },
      1,
    ),
    requests_by_project: Object.fromEntries(Object.entries(estimate.requests_by_project).map(([p, n]) => [p, Math.round(n * callShare)])),
    eta_seconds: estimate.eta_seconds === null ? null : Math.round(estimate.eta_seconds * callShare),
    cached_answers: { answers, of },
  };
}

/** The user's response cache to look answers up in, when a step of the job reads it and the cache exists (never created here). */
export function openCacheToLookUp(job: Job): ResponseCache | undefined {
  return job.steps.some(lookedUp) ? ResponseCache.openExisting() : undefined;
}

/** `withCachedAnswers` of what `countCachedAnswers` finds; the estimate as it is without a cache. */
export async function countingCachedAnswers(
  estimate: JobEstimate,
  prepared: PreparedJob,
  options: { cache: ResponseCache | undefined; store?: WorkItems; catalog: PriceCatalog; limit?: number },
): Promise<JobEstimate> {
  const { cache, ...rest } = options;
  if (!cache) return estimate;
  return withCachedAnswers(estimate, await countCachedAnswers(prepared, cache, rest));
}
