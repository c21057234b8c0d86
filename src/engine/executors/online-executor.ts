import { videoWithAudio } from '../../providers/veo-limits.js';
import type { GoogleGenAI } from '@google/genai';
import { cacheKeyOf } from '../../cache/response-cache.js';
import type { Lease } from '../../coordination/project-pool.js';
import { ProviderError, QuotaExhaustedError, TransientError } from '../../errors/provider-errors.js';
import { itemsPerRequest, thinkingBudgetOf, worstCaseCost } from '../../estimate/step-usage.js';
import { heuristicTokens } from '../../estimate/token-counter.js';
import { cachesResponses, modelsOf, type Step } from '../../job/job.js';
import { TemplateValueMissing } from '../../job/template.js';
import { emptyUsage, type ProviderRequest, type ProviderResult } from '../../providers/provider.js';
import { knownParams, providerFor } from '../../providers/provider-registry.js';
import { VeoProvider } from '../../providers/veo.js';
import { classifyError } from '../../resilience/classify-error.js';
import { CACHE_LEDGER_PROJECT, type LedgerEntry } from '../../store/rows.js';
import { renderStep, type RenderedStep } from '../render-step.js';
import { drawOf, paramsForDraw, type Unit } from '../unit.js';
import { withFeedback } from '../check-gate.js';
import { MAX_EMBEDDING_REQUEST_TOKENS, maxEmbeddingBatch } from '../../providers/embedding.js';
import type { ParkedOperation, PollOutcome, PreparedCall, ResumedOperation, Settled, Settlement, StepExecutor } from './step-executor.js';
import { steadyNow } from '../../resilience/steady-clock.js';

import type { ExecutionContext } from './execution-context.js';
import { CallFailures } from './call-failures.js';

export type { ExecutionContext } from './execution-context.js';

/** Consecutive failed polls of one operation tolerated before the unit is retried later. */
export const MAX_FAILED_POLLS = 5;

/** Tokens a call may use, reserved against `tpm` before it and corrected after. */
function estimateTokens(request: ProviderRequest): number {
  const text = (request.texts ?? [request.prompt]).join(' ') + (request.system ?? '');
  return Math.ceil(text.length / 4) + (request.maxOutputTokens ?? (request.task === 'text' ? 1000 : 0));
}

function withoutLabels(request: ProviderRequest): ProviderRequest {
  const copy = { ...request };
  delete copy.labels;
  return copy;
}

/**
 * Online calls, one request at a time per lease: the three parts of a step are `prepare` (render,
 * size), `execute` (the call on a leased project) and `settle` (checkpoint, or react to the error
 * through the reaction table). A video call only starts its operation; polling is the scheduler's.
 */
export class OnlineExecutor extends CallFailures implements StepExecutor {
  /** Cache keys by rendered request and model; a rendering is dropped with its unit. */
  private readonly keysByRendering = new WeakMap<RenderedStep, Map<string, string>>();

  constructor(ctx: ExecutionContext) {
    super(ctx);
  }

  batchSize(step: Step): number {
    return itemsPerRequest(step);
  }

  prepare(units: Unit[]): { call: PreparedCall | undefined; rejected: Settled[]; deferred?: Unit[] } {
    const { job, catalog } = this.ctx;
    const first = units[0];
    if (!first) return { call: undefined, rejected: [] };
    const step = first.step;
    const live: PreparedCall['live'] = [];
    const rejected: Settled[] = [];
    const deferred: Unit[] = [];
    // An embedding request stays within Vertex's tokens per request (texts counted by the bound that
    // never falls under Google's count); the units that would pass it wait for the next request.
    const tokenLimit = step.task === 'embedding' && maxEmbeddingBatch(step.model) > 1 ? MAX_EMBEDDING_REQUEST_TOKENS : undefined;
    let requestTokens = 0;
    for (const unit of units) {
      if (deferred.length > 0) {
        deferred.push(unit);
        continue;
      }
      try {
        const rendered = renderStep(job, step, unit.context);
        if (tokenLimit !== undefined) {
          const tokens = heuristicTokens(rendered.request.prompt);
          if (live.length > 0 && requestTokens + tokens > tokenLimit) {
            deferred.push(unit);
            continue;
          }
          requestTokens += tokens;
        }
        live.push({ unit, rendered });
      } catch (error) {
        const message = error instanceof TemplateValueMissing ? `${error.message} for this item` : (error as Error).message;
        this.fail(unit, 'TEMPLATE_VALUE_MISSING', message);
        rejected.push({ unit, verdict: { kind: 'failed' } });
      }
    }
    const lead = live[0];
    if (!lead) return { call: undefined, rejected, deferred };
    const request: ProviderRequest = {
      ...lead.rendered.request,
      params: paramsForDraw(lead.rendered.request.params, drawOf(lead.unit)),
      ...withFeedback(step, lead.unit, lead.rendered.request.prompt),
      ...(step.task === 'embedding' ? { texts: live.map((l) => l.rendered.request.prompt) } : {}),
      labels: { genbatch_job: job.name.toLowerCase().slice(0, 60) },
      // Always a thinking budget for a model that thinks: the worst case below counts it.
      ...(step.task === 'text' ? { thinkingBudget: thinkingBudgetOf(step, catalog) } : {}),
    };
    const inputText = (request.texts ?? [request.prompt]).join(' ') + (request.system ?? '');
    // Reserved before the model is known: the most any of the step's models (fallbacks too) can cost.
    const tokens = heuristicTokens(inputText);
    const worstCaseUsd = Math.max(...modelsOf(step).map((model) => worstCaseCost({ ...step, model }, tokens, catalog)));
    return {
      call: { step, live, request, worstCaseUsd, estimatedTokens: estimateTokens(request) },
      rejected,
      ...(deferred.length > 0 ? { deferred } : {}),
    };
  }

  /** The request for another of the step's models: its own thinking budget, and only the params it takes. */
  private requestFor(call: PreparedCall, model: string): ProviderRequest {
    const { step, request } = call;
    if (model === request.model) return request;
    const known = knownParams(step.task, model);
    const params = Object.fromEntries(Object.entries(request.params).filter(([name]) => known.includes(name)));
    return {
      ...request,
      model,
      params,
      ...(step.task === 'text' ? { thinkingBudget: thinkingBudgetOf({ ...step, model }, this.ctx.catalog) } : {}),
    };
  }

  /** The request of one unit of a call (an embedding call carries several texts; each is cached on its own). */
  private unitRequest(call: PreparedCall, index: number, model: string): ProviderRequest {
    const request = this.requestFor(call, model);
    const own = call.live[index];
    return call.live.length > 1 && own ? { ...request, texts: [own.rendered.request.prompt] } : request;
  }

  /**
   * The cache keys of a unit's request under each of the step's models, in order. The key does not
   * depend on the project or API that answers: the same model gives the same kind of answer on both.
   */
  private cacheKeys(call: PreparedCall, index: number): { model: string; key: string }[] {
    return modelsOf(call.step).map((model) => ({ model, key: this.cacheKey(call, index, model) }));
  }

  /** A unit's cache key under `model`: computed for the lookup, kept for the store after the call. */
  private cacheKey(call: PreparedCall, index: number, model: string): string {
    const rendered = call.live[index]?.rendered;
    let keys = rendered ? this.keysByRendering.get(rendered) : undefined;
    let key = keys?.get(model);
    if (key === undefined) {
      key = cacheKeyOf(this.unitRequest(call, index, model));
      if (rendered) this.keysByRendering.set(rendered, (keys ??= new Map()).set(model, key));
    }
    return key;
  }

  /**
   * Units whose exact request was answered before (by this job or another) complete from the response
   * cache, at $0, without a project or a call; the rest go on as a call. Units put back to be redone
   * (retry) always get a call.
   */
  async fromCache(call: PreparedCall): Promise<{ settled: Promise<Settled[]>; rest: PreparedCall | undefined }> {
    const { cache } = this.ctx;
    if (!cache || !cachesResponses(call.step)) return { settled: Promise.resolve([]), rest: call };
    const hits: { index: number; model: string; key: string; result: ProviderResult }[] = [];
    for (const [index, l] of call.live.entries()) {
      if (l.unit.noCache) continue;
      for (const { model, key } of this.cacheKeys(call, index)) {
        const result = await cache.get(key);
        if (result) {
          hits.push({ index, model, key, result });
          break;
        }
      }
    }
    if (hits.length === 0) return { settled: Promise.resolve([]), rest: call };
    const served = new Set(hits.map((h) => h.index));
    const left = call.live.filter((_, index) => !served.has(index)).map((l) => l.unit);
    const rest = left.length === 0 ? undefined : this.prepare(left).call;
    return { settled: Promise.all(hits.map((hit) => this.serveFromCache(call, hit))), rest };
  }

  private async serveFromCache(call: PreparedCall, hit: { index: number; model: string; key: string; result: ProviderResult }): Promise<Settled> {
    const { store, runId, emit } = this.ctx;
    const { unit, rendered } = call.live[hit.index] as PreparedCall['live'][number];
    const step = call.step;
    // Running first, so that the step's checkpoint finds it in this run; not awaited on its own (nothing is at stake).
    // (A failure here fails the checkpoint's commit below too, which reports it.)
    store.commit(() => store.markRunning(unit.item.id, step.name, runId, CACHE_LEDGER_PROJECT)).catch(() => undefined);
    emit('step:start', { itemId: unit.item.id, step: step.name, project: CACHE_LEDGER_PROJECT, attempt: unit.attempts + 1 });
    const entry: LedgerEntry = { ...this.ledgerEntry(undefined, unit.item.id, step, hit.model, CACHE_LEDGER_PROJECT, 200, emptyUsage(), 0, 0), cached: true };
    const verdict = await this.checkpoint(unit, rendered, hit.result, 0, 0, CACHE_LEDGER_PROJECT, entry, hit.model, { key: hit.key, hit: true });
    return { unit, verdict };
  }

  async execute(call: PreparedCall, lease: Lease): Promise<Settlement> {
    const { store, runId, emit } = this.ctx;
    const { step, live } = call;
    const project = lease.project.name;
    const model = lease.model;
    call.model = model;
    call.api = lease.project.api ?? 'vertex';
    call.request = this.requestFor(call, model);
    // Labels are Vertex's (for billing reports); the Gemini API refuses requests that carry them.
    if (call.api === 'gemini' && call.request.labels) call.request = withoutLabels(call.request);
    // The step's static prefix from its context cache on this project (made, or reused, here), when it has one.
    if (this.ctx.contextCaches?.prefixFor(step) && call.api === 'vertex' && live.length === 1)
      call.request = await this.ctx.contextCaches.requestFor(step, call.request, lease.project, lease.client);
    const lead = live[0] as PreparedCall['live'][number];
    // A reply paid for by an earlier run, whose outputs could not be written then (disk full).
    const held = live.length === 1 ? this.ctx.held.take(lead.unit.item.id, step.name) : undefined;
    if (held) {
      lease.release();
      await store.commit(() => store.markRunning(lead.unit.item.id, step.name, runId, project));
      return { settled: [{ unit: lead.unit, verdict: await this.checkpoint(lead.unit, lead.rendered, held, 0, 0, project, undefined, model) }], spentUsd: 0 };
    }
    // Intent before spend: the units' running state and the call's ledger row at its worst case,
    // committed (with the other checkpoints of the moment) before the call is sent.
    call.ledgerId = await store.commit(() => {
      for (const l of live) store.markRunning(l.unit.item.id, step.name, runId, project);
      return store.openCall({ runId, itemId: lead.unit.item.id, step: step.name, project, model, reservedUsd: call.worstCaseUsd });
    });
    for (const l of live) emit('step:start', { itemId: l.unit.item.id, step: step.name, project, attempt: l.unit.attempts + 1 });
    const provider = (this.ctx.providers ?? providerFor)(step.task, model);
    const t0 = steadyNow();
    if (provider.start && provider.poll) {
      // A long-running operation: start it, checkpoint its name, and hand it back to be polled.
      let operationName: string;
      try {
        operationName = await provider.start(lease.client, call.request);
      } catch (raw) {
        const error = classifyError(raw);
        lease.release(undefined, this.windowOutcome(project, model, error));
        return this.settleFailure(call, error, project, steadyNow() - t0);
      }
      lease.release(undefined, 'success');
      // Starting the operation is the call the quota governs: a probe that started one closes the breaker.
      this.ctx.pool.succeeded(project, model, 0, t0);
      await store.commit(() => store.setOperationName(lead.unit.item.id, step.name, operationName, runId));
      emit('operation:pending', { itemId: lead.unit.item.id, step: step.name, operationName, resumed: false });
      // Nothing is spent yet: the call's budget hold goes with the operation, settled when it ends.
      const operation: ParkedOperation = { call, operationName, project, startedAt: t0 };
      return { settled: live.map((l) => ({ unit: l.unit, verdict: { kind: 'parked', operation } })), spentUsd: undefined };
    }
    let result: ProviderResult;
    try {
      result = await provider.call(lease.client, call.request);
    } catch (raw) {
      let error = classifyError(raw);
      // The cache it named is gone (expired, deleted): the next attempt makes a new one.
      if (call.request.cachedContent !== undefined && error instanceof ProviderError && error.httpStatus === 404 && this.ctx.contextCaches) {
        this.ctx.contextCaches.forget(step, lease.project, model);
        error = new TransientError(`The context cache ${call.request.cachedContent} is gone; a new one is made. (${error.message})`, { httpStatus: 404 });
      }
      lease.release(undefined, this.windowOutcome(project, model, error));
      return this.settleFailure(call, error, project, steadyNow() - t0);
    }
    lease.release(result.usage.inputTokens + result.usage.outputTokens + result.usage.thoughtsTokens, 'success');
    return this.settleSuccess(call, result, project, steadyNow() - t0);
  }

  async poll(operation: ParkedOperation, client: GoogleGenAI): Promise<PollOutcome> {
    const { call, operationName, project, startedAt } = operation;
    const provider = (this.ctx.providers ?? providerFor)(call.step.task, call.model ?? call.step.model);
    if (!provider.poll) throw new Error(`The ${call.step.task} provider has no operations to poll.`);
    let status: Awaited<ReturnType<NonNullable<typeof provider.poll>>>;
    try {
      status = await provider.poll(client, operationName, call.request);
    } catch (raw) {
      const error = classifyError(raw);
      // A poll that did not get through is free: poll again rather than start (and pay for) another video.
      if (error instanceof TransientError || error instanceof QuotaExhaustedError) return { kind: 'poll_failed', error };
      // The operation itself failed: a retry starts a new one.
      return { kind: 'settled', ...(await this.settleFailure(call, error, project, steadyNow() - startedAt)) };
    }
    if (!status.done || !status.result) {
      const giveUpAfterMs = provider instanceof VeoProvider ? provider.pollingPlan.giveUpAfterMs : 30 * 60_000;
      if (steadyNow() - startedAt <= giveUpAfterMs) return { kind: 'running' };
      const error = new TransientError(
        `Video operation ${operationName} was still running after ${Math.round(giveUpAfterMs / 60_000)} min; resume to poll it again.`,
        {},
      );
      return { kind: 'settled', ...(await this.settleFailure(call, error, project, steadyNow() - startedAt, true)) };
    }
    const result = await this.readStoredMedia(status.result, project);
    return { kind: 'settled', ...(await this.settleSuccess(call, result, project, steadyNow() - startedAt)) };
  }

  /**
   * Veo with `storage_uri` returns `gs://` URIs and no bytes: each video is read from Cloud Storage
   * with the project's credentials. One that cannot be read keeps no bytes and says why, and the
   * output guard then fails the step with that reason (the video was made and billed: never retried).
   */
  private async readStoredMedia(result: ProviderResult, project: string): Promise<ProviderResult> {
    const media = result.media;
    if (!media?.some((m) => m.uri !== undefined && m.data.length === 0)) return result;
    const read = await Promise.all(
      media.map(async (m) => {
        if (m.uri === undefined || m.data.length > 0) return m;
        if (!this.ctx.objects) return { ...m, unreadable: 'no Cloud Storage reader in this run' };
        try {
          return { ...m, data: await this.ctx.objects.read(project, m.uri) };
        } catch (error) {
          return { ...m, unreadable: (error as Error).message };
        }
      }),
    );
    return { ...result, media: read };
  }

  /**
   * A unit whose operation was started by an earlier, interrupted run: it is marked running again
   * on the project that owns the operation and parked for polling, without a new (paid) start.
   */
  resumeOperation(unit: Unit): ResumedOperation | Settled[] {
    const { call, rejected } = this.prepare([unit]);
    if (!call || !unit.operationName || !unit.operationProject) return rejected;
    const { store, runId } = this.ctx;
    store.markRunning(unit.item.id, unit.step.name, runId, unit.operationProject);
    // The operation's intent row, left unsettled by the run that started it, is settled when it ends.
    const intent = store.unsettledCallOf(unit.item.id, unit.step.name);
    // The model that started it (a fallback, maybe): polled, priced and recorded as that model.
    if (intent) call.model = intent.model;
    call.ledgerId =
      intent?.id ??
      store.openCall({
        runId,
        itemId: unit.item.id,
        step: unit.step.name,
        project: unit.operationProject,
        model: call.model ?? unit.step.model,
        reservedUsd: call.worstCaseUsd,
      });
    return {
      operation: { call, operationName: unit.operationName, project: unit.operationProject, startedAt: steadyNow() },
      // Already being paid for: its worst case is held again (moved from the spend read at the start when its intent row counts it).
      holdUsd: intent?.reservedUsd ?? call.worstCaseUsd,
      counted: intent !== undefined,
    };
  }

  /** An operation whose polls keep failing: retried later, polling the same operation again. */
  pollsExhausted(operation: ParkedOperation, error: Error): Promise<Settlement> {
    return this.settleFailure(operation.call, classifyError(error), operation.project, steadyNow() - operation.startedAt, true);
  }

  pollDelayMs(polls: number): number {
    const provider = providerFor('video', '');
    const plan = provider instanceof VeoProvider ? provider.pollingPlan : { firstMs: 500, factor: 1.5, maxMs: 10_000 };
    return Math.min(plan.maxMs, plan.firstMs * plan.factor ** polls);
  }

  /** A unit that cannot even be rendered fails straight from pending (no call was made). */
  private fail(unit: Unit, code: string, message: string): void {
    this.ctx.store.finishStep(unit.item.id, unit.step.name, 'failed', { code, message }, undefined, this.ctx.runId);
    this.ctx.emit('step:failed', { itemId: unit.item.id, step: unit.step.name, code, message });
  }

  /** A reply arrived: price it, write the outputs and checkpoint each unit it served. */
  private async settleSuccess(call: PreparedCall, result: ProviderResult, project: string, durationMs: number): Promise<Settlement> {
    const { catalog, pool } = this.ctx;
    const { step, live } = call;
    const model = call.model ?? step.model;
    const costUsd = catalog.cost(model, result.usage, { withAudio: videoWithAudio(model, step.params), api: call.api ?? 'vertex' });
    pool.succeeded(project, model, costUsd);
    // One ledger row per API call (on the first unit of a batch); each unit carries its share of the cost.
    const ledger = this.ledgerEntry(
      call.ledgerId,
      (live[0] as PreparedCall['live'][number]).unit.item.id,
      step,
      model,
      project,
      200,
      result.usage,
      costUsd,
      durationMs,
    );
    this.emitCall(ledger, result.usage);
    const share = costUsd / live.length;
    const settled: Settled[] = [];
    for (const [position, l] of live.entries()) {
      const own: ProviderResult = step.task === 'embedding' ? { ...result, vectors: [result.vectors?.[position] ?? []] } : result;
      const cacheKey = this.ctx.cache && cachesResponses(step) ? this.cacheKey(call, position, model) : undefined;
      const verdict = await this.checkpoint(
        l.unit,
        l.rendered,
        own,
        share,
        durationMs,
        project,
        position === 0 ? ledger : undefined,
        model,
        cacheKey === undefined ? undefined : { key: cacheKey, hit: false },
      );
      settled.push({ unit: l.unit, verdict });
    }
    return { settled, spentUsd: costUsd };
  }
}
