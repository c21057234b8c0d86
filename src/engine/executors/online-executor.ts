import { videoWithAudio } from '../../providers/veo-limits.js';
import type { GoogleGenAI } from '@google/genai';
import { cacheKeyOf, type ResponseCache } from '../../cache/response-cache.js';
import type { Lease, ProjectPool } from '../../coordination/project-pool.js';
import { ConfigError } from '../../errors/config-error.js';
import { OutputDiskFullError } from '../../errors/run-errors.js';
import type { GenbatchError } from '../../errors/genbatch-error.js';
import {
  BadResponseError,
  OutcomeUnknownError,
  ProviderError,
  QuotaExhaustedError,
  TransientError,
  UndecodableImageError,
} from '../../errors/provider-errors.js';
import type { WindowOutcome } from '../../resilience/adaptive-window.js';
import { sharedCapacityDelay } from '../../resilience/quota-kind.js';
import type { PriceCatalog } from '../../estimate/price-catalog.js';
import { itemsPerRequest, thinkingBudgetOf, worstCaseCost } from '../../estimate/step-usage.js';
import { heuristicTokens } from '../../estimate/token-counter.js';
import { cachesResponses, modelsOf, type Job, type Step } from '../../job/job.js';
import { TemplateValueMissing } from '../../job/template.js';
import type { AtomicWriter } from '../../outputs/atomic-write.js';
import { isDiskFull, type HeldReplies } from '../../outputs/held-replies.js';
import { emptyUsage, type Provider, type ProviderRequest, type ProviderResult, type TaskKind, type Usage } from '../../providers/provider.js';
import { knownParams, providerFor } from '../../providers/provider-registry.js';
import { VeoProvider } from '../../providers/veo.js';
import { classifyError } from '../../resilience/classify-error.js';
import { RetryPolicy } from '../../resilience/retry-policy.js';
import { CACHE_LEDGER_PROJECT, type LedgerEntry } from '../../store/rows.js';
import type { Checkpoints } from '../../store/interfaces/checkpoints.js';
import type { Ledger } from '../../store/interfaces/ledger.js';
import { reactionTo, SHARED_CAPACITY_REACTION, type Reaction } from '../error-reactions.js';
import type { EngineEvents } from '../events.js';
import { renderStep, type RenderedStep } from '../render-step.js';
import { callEnded, callRecord } from './call-record.js';
import type { Unit } from '../unit.js';
import { heldRepliesDirFor } from '../paths.js';
import { MAX_EMBEDDING_REQUEST_TOKENS, maxEmbeddingBatch } from '../../providers/embedding.js';
import { MissingOutputBytesError, writeStepOutputs } from '../write-outputs.js';
import type { CloudObjects } from './cloud-objects.js';
import type { ParkedOperation, PollOutcome, PreparedCall, ResumedOperation, Settled, Settlement, StepExecutor, Verdict } from './step-executor.js';
import { steadyNow, toWall } from '../../resilience/steady-clock.js';

export interface ExecutionContext {
  runId: string;
  job: Job;
  /** The checkpoints and ledger rows of a call: all an executor writes. */
  store: Checkpoints & Ledger;
  catalog: PriceCatalog;
  pool: ProjectPool;
  writer: AtomicWriter;
  /** Paid replies kept when the disk for outputs was full; written instead of calling again. */
  held: HeldReplies;
  emit: <K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]) => void;
  random?: () => number;
  /** The response cache: identical requests answered once. Absent when caching is off for the run. */
  cache?: ResponseCache;
  /** Reads what a model wrote to Cloud Storage (Veo with storage_uri). Absent: such outputs fail their step. */
  objects?: CloudObjects;
  /** Which provider serves a step's model: the registry's when absent (unit tests give a fake). */
  providers?: (task: TaskKind, model: string) => Provider;
}

/** A reply to checkpoint: the unit it answers, what it cost, where it came from. */
interface Reply {
  unit: Unit;
  rendered: RenderedStep;
  result: ProviderResult;
  costUsd: number;
  durationMs: number;
  project: string;
  call: LedgerEntry | undefined;
  model: string;
  cache: { key: string; hit: boolean } | undefined;
}

/** A failed call, as the reaction table reads it (failureOf). */
interface CallFailure {
  call: PreparedCall;
  error: GenbatchError;
  project: string;
  model: string;
  durationMs: number;
  /** A poll of a running operation failed: the operation is kept (polled again), nothing was spent. */
  keepOperation: boolean;
  /** A bare 429 of shared capacity: no project is at fault. */
  sharedCapacity: boolean;
  reaction: Reaction;
  usage: Usage;
  cost: number;
  finishReason: string | undefined;
  /** It may have been billed, for an amount never to be known: booked at its worst case. */
  unknown: boolean;
  ledger: LedgerEntry;
  waitingOn: string | undefined;
}

/** What becomes of a failed call's units: retried after `delayMs`, or not. */
type FailureDecision = ({ retry: true; delayMs: number } | { retry: false }) & { attempts: number; refusals: number; message: string };

const RETRY_BASE_MS = 1000;
const RETRY_CAP_MS = 60_000;
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

/** What later steps and the results file can use: JSON fields, text, output file, vector. */
function stepResult(result: ProviderResult, outputs: string[]): Record<string, unknown> {
  const base: Record<string, unknown> = {};
  if (result.vectors?.[0]) base.vector = result.vectors[0];
  if (result.text !== undefined) base.text = result.text;
  if (outputs.length > 0) {
    base.file = outputs[0];
    base.files = outputs;
  }
  if (result.json !== null && typeof result.json === 'object' && !Array.isArray(result.json)) Object.assign(base, result.json);
  return base;
}

/**
 * Online calls, one request at a time per lease: the three parts of a step are `prepare` (render,
 * size), `execute` (the call on a leased project) and `settle` (checkpoint, or react to the error
 * through the reaction table). A video call only starts its operation; polling is the scheduler's.
 */
export class OnlineExecutor implements StepExecutor {
  private readonly retryPolicies = new Map<string, RetryPolicy>();
  /** Refusals by shared capacity per unit: the exponent of its next backoff (no attempt is used). */
  private readonly capacityRefusals = new WeakMap<Unit, number>();
  /** Cache keys by rendered request and model; a rendering is dropped with its unit. */
  private readonly keysByRendering = new WeakMap<RenderedStep, Map<string, string>>();

  constructor(private readonly ctx: ExecutionContext) {}

  batchSize(step: Step): number {
    return itemsPerRequest(step);
  }

  private retryPolicy(step: Step): RetryPolicy {
    let policy = this.retryPolicies.get(step.name);
    if (!policy) {
      policy = new RetryPolicy({
        maxAttempts: step.maxAttempts,
        baseMs: RETRY_BASE_MS,
        capMs: RETRY_CAP_MS,
        ...(this.ctx.random ? { random: this.ctx.random } : {}),
      });
      this.retryPolicies.set(step.name, policy);
    }
    return policy;
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
      const error = classifyError(raw);
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

  private ledgerEntry(
    id: number | undefined,
    itemId: string,
    step: Step,
    model: string,
    project: string,
    httpStatus: number,
    usage: Usage,
    costUsd: number,
    durationMs: number,
    errorCode?: string,
  ): LedgerEntry {
    return callRecord({ id, runId: this.ctx.runId, itemId, step: step.name, project, model, httpStatus, errorCode, usage, costUsd, durationMs });
  }

  /** Every API call, as it ends: what logs and metrics count. */
  private emitCall(call: LedgerEntry, usage: Usage): void {
    this.ctx.emit('call:end', callEnded(call, usage));
  }

  /** A unit that cannot even be rendered fails straight from pending (no call was made). */
  private fail(unit: Unit, code: string, message: string): void {
    this.ctx.store.finishStep(unit.item.id, unit.step.name, 'failed', { code, message }, undefined, this.ctx.runId);
    this.ctx.emit('step:failed', { itemId: unit.item.id, step: unit.step.name, code, message });
  }

  /** What a failed call tells the shared-capacity window: refused by shared capacity, timed out, or nothing. */
  private windowOutcome(project: string, model: string, error: GenbatchError): WindowOutcome {
    if (error instanceof QuotaExhaustedError) return this.ctx.pool.quotaKindOf429(project, model, error) === 'shared' ? 'refused' : 'none';
    if (error instanceof OutcomeUnknownError) return 'timeout';
    if (error instanceof TransientError && (error.httpStatus === 504 || error.httpStatus === 408 || error.apiStatus === 'DEADLINE_EXCEEDED')) return 'timeout';
    return 'none';
  }

  /**
   * Settles a failed call through the reaction table: requeue, retry after a backoff, or fail. Its
   * settlement's spend is what the call cost: its usage when a reply was billed, its worst case when
   * the outcome is unknown (it may have been billed, for an amount never to be known), else $0.
   */
  private async settleFailure(call: PreparedCall, error: GenbatchError, project: string, durationMs: number, keepOperation = false): Promise<Settlement> {
    const failure = this.failureOf(call, error, project, durationMs, keepOperation);
    this.reactOnProject(failure);
    const decision = this.decide(failure);
    await this.commitFailure(failure, decision);
    this.emitCall(failure.ledger, failure.usage);
    return { settled: this.failureVerdicts(failure, decision), spentUsd: failure.unknown ? call.worstCaseUsd : failure.cost };
  }

  /** What a failed call was: its reaction, what it cost, its ledger row. */
  private failureOf(call: PreparedCall, error: GenbatchError, project: string, durationMs: number, keepOperation: boolean): CallFailure {
    const { catalog, pool } = this.ctx;
    const { step } = call;
    const lead = call.live[0] as PreparedCall['live'][number];
    const model = call.model ?? step.model;
    // A bare 429 of shared capacity: no project is at fault and none would have more; wait a short backoff.
    const sharedCapacity = error instanceof QuotaExhaustedError && pool.quotaKindOf429(project, model, error) === 'shared';
    const reaction = sharedCapacity ? SHARED_CAPACITY_REACTION : reactionTo(error);
    const httpStatus = error instanceof ProviderError ? (error.httpStatus ?? 0) : 0;
    // A reply that arrived but was unusable was still billed: keep its usage in the ledger.
    const usage = (error as { usage?: Usage }).usage ?? emptyUsage();
    const cost = reaction.billed === 'usage' ? catalog.cost(model, usage, { withAudio: videoWithAudio(model, step.params), api: call.api ?? 'vertex' }) : 0;
    const status = httpStatus || (error instanceof BadResponseError ? 200 : 0);
    return {
      call,
      error,
      project,
      model,
      durationMs,
      keepOperation,
      sharedCapacity,
      reaction,
      usage,
      cost,
      // The finish reason of a reply that arrived but was not used (TRUNCATED, OTHER…), recorded with the step.
      finishReason: error instanceof ProviderError ? error.finishReason : undefined,
      // A call that may have been billed counts at its worst case. (A poll that failed is free: the operation's own cost is settled when it ends.)
      unknown: reaction.billed === 'unknown' && !keepOperation && call.ledgerId !== undefined,
      ledger: this.ledgerEntry(call.ledgerId, lead.unit.item.id, step, model, project, status, usage, cost, durationMs, error.code),
      waitingOn: sharedCapacity ? pool.capacityRefused(project, model) : undefined,
    };
  }

  /** What the failure says of the project: a cooldown, an outage, a model it cannot serve, a credential rejected. */
  private reactOnProject(f: CallFailure): void {
    const { pool, emit } = this.ctx;
    const { error, project, model, reaction, durationMs } = f;
    // Shared capacity was counted already (failureOf); no project is at fault.
    if (f.sharedCapacity) return;
    if (reaction.project === 'cooldown' && error instanceof QuotaExhaustedError) {
      const until = pool.cooldown(project, model, {
        reason: error.perDay ? 'daily quota exhausted' : 'quota exhausted (429)',
        startedAt: steadyNow() - durationMs,
        perDay: error.perDay,
        ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
        // What the 429 names of its quota (its window, its limit): the learned pacing's figures.
        quota: {
          ...(error.quotaWindowMs === undefined ? {} : { windowMs: error.quotaWindowMs }),
          ...(error.quotaLimit === undefined ? {} : { limit: error.quotaLimit }),
        },
      });
      emit('project:cooldown', { project, untilMs: toWall(until), reason: error.message, perDay: error.perDay });
    } else if (reaction.project === 'outage') {
      const until = pool.outage(project, model, { reason: error.message, startedAt: steadyNow() - durationMs });
      emit('project:cooldown', { project, untilMs: toWall(until), reason: error.message, perDay: false });
    } else if (reaction.project === 'model_unavailable') {
      pool.modelUnavailable(project, model, error.message);
      emit('model:unavailable', { project, model, reason: error.message });
    } else if (reaction.project === 'disable') {
      const details = error instanceof ProviderError ? `${error.httpStatus ?? ''} ${error.apiStatus ?? ''}`.trim() : '';
      pool.disable(project, details ? `credential rejected (${details})` : 'credential rejected');
      emit('project:disabled', { project, reason: error.message });
    }
  }

  /** Whether the units try again, and after how long: shared capacity's backoff, a requeue, the retry policy, or no. */
  private decide(f: CallFailure): FailureDecision {
    const { live, step } = f.call;
    const { reaction, error } = f;
    const attempts = Math.max(...live.map((l) => l.unit.attempts)) + (reaction.countsAttempt ? 1 : 0);
    const refusals = f.sharedCapacity ? Math.max(...live.map((l) => this.capacityRefusals.get(l.unit) ?? 0)) + 1 : 0;
    if (f.sharedCapacity) for (const l of live) this.capacityRefusals.set(l.unit, refusals);
    const decision = f.sharedCapacity
      ? ({ retry: true, delayMs: sharedCapacityDelay(refusals) } as const)
      : reaction.unit === 'requeue'
        ? ({ retry: true, delayMs: 0 } as const)
        : reaction.unit === 'retry'
          ? this.retryPolicy(step).decide(attempts, error instanceof ProviderError ? error.retryAfterMs : undefined)
          : ({ retry: false } as const);
    const message = reaction.unit === 'retry' && !decision.retry ? `${error.message} (gave up after ${attempts} attempts)` : error.message;
    return { ...decision, attempts, refusals, message };
  }

  /** The failed call's ledger row and the units' new state, committed together. */
  private async commitFailure(f: CallFailure, decision: FailureDecision): Promise<void> {
    const { store, runId } = this.ctx;
    const { step, live } = f.call;
    const { error, finishReason } = f;
    const reason = finishReason === undefined ? {} : { finishReason };
    const share = f.cost / live.length;
    await store.commit(() => {
      if (f.unknown) store.markCallUnknown(f.call.ledgerId as number, error.code, f.durationMs);
      else store.recordCall(f.ledger);
      for (const l of live) {
        if (!f.keepOperation && l.unit.operationName) store.setOperationName(l.unit.item.id, step.name, null, runId);
        if (decision.retry) {
          // A billed but unusable reply (bad JSON) is part of what the item cost.
          const pending = { countAttempt: f.reaction.countsAttempt, errorCode: error.code, errorMessage: error.message, costUsd: share, runId, ...reason };
          store.markPending(l.unit.item.id, step.name, pending);
        } else {
          const failed = { code: error.code, message: decision.message, promptHash: l.rendered.promptHash, costUsd: share, model: f.model, ...reason };
          store.finishStep(l.unit.item.id, step.name, 'failed', failed, undefined, runId);
        }
      }
    });
  }

  /** Each unit's verdict after a failure, announced: requeued, retried after its delay, or failed. */
  private failureVerdicts(f: CallFailure, decision: FailureDecision): Settled[] {
    const { emit } = this.ctx;
    const { step, live } = f.call;
    const { error, finishReason, waitingOn } = f;
    const reason = finishReason === undefined ? {} : { finishReason };
    if (f.reaction.unit === 'requeue') return live.map((l) => ({ unit: l.unit, verdict: { kind: 'requeue' } }));
    if (!decision.retry) {
      for (const l of live) emit('step:failed', { itemId: l.unit.item.id, step: step.name, code: error.code, message: decision.message, ...reason });
      return live.map((l) => ({ unit: l.unit, verdict: { kind: 'failed' } }));
    }
    const waiting = waitingOn === undefined ? {} : { waitingOn };
    for (const l of live) {
      l.unit.attempts = decision.attempts;
      if (!f.keepOperation) l.unit.operationName = undefined;
      emit('step:retry', {
        itemId: l.unit.item.id,
        step: step.name,
        project: f.project,
        code: error.code,
        message: error.message,
        attempt: decision.attempts,
        delayMs: decision.delayMs,
        ...reason,
        ...(waitingOn === undefined ? {} : { waitingOn, refusals: decision.refusals }),
      });
    }
    return live.map((l) => ({ unit: l.unit, verdict: { kind: 'retry', delayMs: decision.delayMs, ...waiting } }));
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

  /**
   * The disk for outputs is full: the paid reply is kept beside the state file and the unit goes
   * back to pending, so that a resume writes it without calling again; the run stops taking calls.
   * Undefined when the reply cannot be kept either (then the step fails as any write failure).
   */
  private async hold(unit: Unit, result: ProviderResult, costUsd: number, call: LedgerEntry | undefined, error: unknown): Promise<Verdict | undefined> {
    const { store, held, job, runId } = this.ctx;
    try {
      await held.keep(unit.item.id, unit.step.name, result);
    } catch {
      return undefined;
    }
    await store.commit(() => {
      if (call) store.recordCall(call);
      store.markPending(unit.item.id, unit.step.name, {
        countAttempt: false,
        errorCode: 'OUTPUT_DISK_FULL',
        errorMessage: (error as Error).message,
        costUsd,
        runId,
      });
    });
    return { kind: 'stop', error: new OutputDiskFullError(job.outputDir, error, heldRepliesDirFor(job)) };
  }

  /**
   * A reply whose image does not decode (broken base64), found before anything was written: the
   * call stays booked at what it cost (its usage), and the step is retried with a new call within
   * limits.max_attempts, as any bad reply (online, or in the next batch job), then fails.
   */
  private async badImage(
    unit: Unit,
    rendered: RenderedStep,
    costUsd: number,
    call: LedgerEntry | undefined,
    project: string,
    model: string,
    error: UndecodableImageError,
  ): Promise<Verdict> {
    const { store, held, runId, emit } = this.ctx;
    const { item, step } = unit;
    // A kept reply that does not decode is no use to the next attempt.
    held.release(item.id, step.name);
    const entry = call ? { ...call, errorCode: error.code } : undefined;
    const attempts = unit.attempts + 1;
    const decision = this.retryPolicy(step).decide(attempts, undefined);
    const message = decision.retry ? error.message : `${error.message} (gave up after ${attempts} attempts)`;
    await store.commit(() => {
      if (decision.retry) {
        if (entry) store.recordCall(entry);
        store.markPending(item.id, step.name, { countAttempt: true, errorCode: error.code, errorMessage: message, costUsd, runId });
      } else {
        store.finishStep(item.id, step.name, 'failed', { code: error.code, message, promptHash: rendered.promptHash, costUsd, model }, entry, runId);
      }
    });
    if (!decision.retry) {
      emit('step:failed', { itemId: item.id, step: step.name, code: error.code, message });
      return { kind: 'failed' };
    }
    unit.attempts = attempts;
    emit('step:retry', { itemId: item.id, step: step.name, project, code: error.code, message, attempt: attempts, delayMs: decision.delayMs });
    return { kind: 'retry', delayMs: decision.delayMs };
  }

  /**
   * Writing the outputs failed for a reason that may pass (the folder was replaced by a file, a
   * network share dropped, permissions changed): the paid reply is kept beside the state file, as on
   * a full disk, and the unit retries the write after a backoff, never the call (the next attempt
   * takes the kept reply). Within limits.max_attempts; undefined when out of attempts (the reply
   * stays kept) or when the reply cannot be kept either.
   */
  private async retryWrite(
    unit: Unit,
    result: ProviderResult,
    costUsd: number,
    call: LedgerEntry | undefined,
    project: string,
    error: unknown,
  ): Promise<Verdict | undefined> {
    const { store, held, runId, emit } = this.ctx;
    const { item, step } = unit;
    try {
      await held.keep(item.id, step.name, result);
    } catch {
      return undefined;
    }
    const attempts = unit.attempts + 1;
    const decision = this.retryPolicy(step).decide(attempts, undefined);
    if (!decision.retry) return undefined;
    const message = `could not write the output: ${(error as Error).message}; the paid reply is kept and only the write is retried`;
    await store.commit(() => {
      if (call) store.recordCall(call);
      store.markPending(item.id, step.name, { countAttempt: true, errorCode: 'OUTPUT_WRITE_FAILED', errorMessage: message, costUsd, runId });
    });
    unit.attempts = attempts;
    emit('step:retry', { itemId: item.id, step: step.name, project, code: 'OUTPUT_WRITE_FAILED', message, attempt: attempts, delayMs: decision.delayMs });
    return { kind: 'retry', delayMs: decision.delayMs };
  }

  /** Writes the outputs and checkpoints the step (or marks it filtered / failed when unusable); batch lines settle here too. */
  async checkpoint(
    unit: Unit,
    rendered: RenderedStep,
    result: ProviderResult,
    costUsd: number,
    durationMs: number,
    project: string,
    call: LedgerEntry | undefined,
    model: string = unit.step.model,
    /** The result's response cache key: `hit` when it came from the cache, else it is stored there once done. */
    cache?: { key: string; hit: boolean },
  ): Promise<Verdict> {
    const reply: Reply = { unit, rendered, result, costUsd, durationMs, project, call, model, cache };
    if (result.filtered) return this.filtered(reply, result.filtered.reason);
    const { job, store, writer } = this.ctx;
    const { item, step } = unit;
    let outputs: string[] = [];
    // A run that lost the job's lock puts no file in place (the run that took it over may write the same one).
    store.checkFence();
    try {
      // Embedding vectors go to one file per step, written from the state at the end of the run.
      if (rendered.outputName !== undefined && step.task !== 'embedding')
        outputs = await writeStepOutputs(job, step, item.id, rendered.outputName, rendered.post, result, writer);
    } catch (error) {
      return this.writeFailed(reply, error);
    }
    return this.completed(reply, outputs);
  }

  /** The reply was filtered for safety: the step ends `filtered`, its call booked. */
  private async filtered(reply: Reply, reason: string): Promise<Verdict> {
    const { store, emit } = this.ctx;
    const { unit, rendered, result, costUsd, call, model } = reply;
    const { item, step } = unit;
    const finish = result.finishReason === undefined ? {} : { finishReason: result.finishReason };
    await store.commit(() =>
      store.finishStep(
        item.id,
        step.name,
        'filtered',
        { code: 'SAFETY_FILTERED', message: reason, promptHash: rendered.promptHash, costUsd, model, ...finish },
        call,
        this.ctx.runId,
      ),
    );
    emit('step:filtered', { itemId: item.id, step: step.name, reason, ...finish });
    return { kind: 'filtered' };
  }

  /**
   * Writing the outputs failed: a full disk keeps the paid reply and stops the run; a reply whose
   * image does not decode is retried with a new call; a write that may pass is retried from the
   * kept reply; else the step fails.
   */
  private async writeFailed(reply: Reply, error: unknown): Promise<Verdict> {
    const { store, emit } = this.ctx;
    const { unit, rendered, result, costUsd, call, project, model, cache } = reply;
    const { item, step } = unit;
    if (isDiskFull(error)) {
      const stop = await this.hold(unit, result, costUsd, call, error);
      if (stop) return stop;
    }
    // An image that does not decode: a billed bad reply (its call booked as it was), retried with a new call.
    if (error instanceof UndecodableImageError) {
      // A cached answer that does not decode (stored by an older version) is never served again.
      if (cache?.hit) this.ctx.cache?.forget(cache.key);
      return this.badImage(unit, rendered, costUsd, call, project, model, error);
    }
    const refused = error instanceof ConfigError || error instanceof MissingOutputBytesError;
    if (!refused) {
      const again = await this.retryWrite(unit, result, costUsd, call, project, error);
      if (again) return again;
    }
    const code = refused ? error.code : 'OUTPUT_WRITE_FAILED';
    // Out of attempts, the paid reply is still kept (retryWrite): `genbatch retry` writes it without a call.
    const kept =
      !refused && this.ctx.held.has(item.id, step.name) ? '; the paid reply is kept, and `genbatch retry JOB --failed` writes it without calling again' : '';
    const message = `could not write the output: ${(error as Error).message}${kept}`;
    await store.commit(() =>
      store.finishStep(item.id, step.name, 'failed', { code, message, promptHash: rendered.promptHash, costUsd, model }, call, this.ctx.runId),
    );
    emit('step:failed', { itemId: item.id, step: step.name, code, message });
    return { kind: 'failed' };
  }

  /** The outputs are written: the step is done (with its call's ledger row), its result kept for later steps and the cache. */
  private async completed(reply: Reply, outputs: string[]): Promise<Verdict> {
    const { store, emit } = this.ctx;
    const { unit, rendered, result, costUsd, durationMs, project, call, model, cache } = reply;
    const { item, step } = unit;
    this.ctx.held.release(item.id, step.name);
    const result_ = stepResult(result, outputs);
    const finish = result.finishReason === undefined ? {} : { finishReason: result.finishReason };
    const truncated = result.truncated === true ? { truncated: true } : {};
    // The step and its call's ledger row, in the next group commit; the unit moves on once it is durable.
    await store.commit(() =>
      store.completeStep(
        item.id,
        step.name,
        {
          result: result_,
          outputs,
          promptHash: rendered.promptHash,
          costUsd,
          model,
          ...(cache ? { cacheKey: cache.key, cached: cache.hit } : {}),
          ...finish,
          ...truncated,
        },
        call,
        this.ctx.runId,
      ),
    );
    unit.context.steps[step.name] = result_;
    // A paid answer is kept for the next identical request (the cache never fails a run: errors only turn it off).
    if (cache && !cache.hit) await this.ctx.cache?.put(cache.key, result, { model, task: step.task });
    emit('step:done', { itemId: item.id, step: step.name, project, costUsd, durationMs, outputs, ...finish, ...truncated });
    return { kind: 'done' };
  }
}
