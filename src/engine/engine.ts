import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { GoogleGenAI } from '@google/genai';
import { createClient } from '../credentials/client-factory.js';
import type { Credentials } from '../credentials/credentials.js';
import { nextDailyReset, ProjectPool } from '../credentials/project-pool.js';
import { ConfigError } from '../errors/config-error.js';
import type { GenbatchError } from '../errors/genbatch-error.js';
import { BadResponseError, CredentialRejectedError, ProviderError, QuotaExhaustedError } from '../errors/provider-errors.js';
import { NoUsableProjectError, StalledOnQuotaError, StopRequestedError } from '../errors/run-errors.js';
import type { Budget } from '../estimate/budget.js';
import type { PriceCatalog } from '../estimate/price-catalog.js';
import { worstCaseCost } from '../estimate/step-usage.js';
import { heuristicTokens } from '../estimate/token-counter.js';
import type { Job, Step } from '../job/job.js';
import { TemplateValueMissing, type TemplateContext } from '../job/template.js';
import { AtomicWriter } from '../outputs/atomic-write.js';
import { writeResults } from '../outputs/results-writer.js';
import { writeEmbeddingFiles } from '../outputs/embedding-files.js';
import { emptyUsage, type ProviderRequest, type ProviderResult, type Usage } from '../providers/provider.js';
import { providerFor } from '../providers/provider-registry.js';
import { maxEmbeddingBatch } from '../providers/embedding.js';
import { backoffDelay, sleep } from '../resilience/backoff.js';
import { classifyError } from '../resilience/classify-error.js';
import type { ItemRow, ItemStepRow, LedgerEntry, StateStore } from '../store/state-store.js';
import { OUTCOME_EXIT_CODES, type EngineEvents, type RunOutcome } from './events.js';
import { renderStep, type RenderedStep } from './render-step.js';
import { scratchDirFor } from './paths.js';
import { readCounts } from './status.js';
import { writeStepOutputs } from './write-outputs.js';

export interface EngineOptions {
  job: Job;
  credentials: Credentials;
  store: StateStore;
  catalog: PriceCatalog;
  /** Only the first N items with work left. */
  limit?: number;
  createClient?: (project: Credentials['projects'][number]) => GoogleGenAI;
  /** The spending guard; without one, nothing is capped. */
  budget?: Budget;
  runId?: string;
  random?: () => number;
}

export interface RunSummary {
  runId: string;
  outcome: RunOutcome;
  exitCode: number;
  durationMs: number;
  message?: string;
  hint?: string;
}

type StepOutcome = 'done' | 'failed' | 'filtered' | 'stopped';

/** An item at its next step, with the results of its earlier steps. */
interface Unit {
  item: ItemRow;
  step: Step;
  context: TemplateContext;
  row: ItemStepRow | undefined;
}

/** Tokens a call may use, reserved against `tpm` before it and corrected after. */
function estimateTokens(request: ProviderRequest): number {
  const text = (request.texts ?? [request.prompt]).join(' ') + (request.system ?? '');
  return Math.ceil(text.length / 4) + (request.maxOutputTokens ?? (request.task === 'text' ? 1000 : 0));
}

const RETRY_BASE_MS = 1000;
const RETRY_CAP_MS = 60_000;
const PAGE = 256;

/**
 * The scheduler: pulls items with work left from the store, runs each item's steps in order on
 * `concurrency` workers, borrows a project from the pool for every call, checkpoints each step the
 * moment it finishes, and reports everything as events. It coordinates; it does no I/O of its own
 * beyond the store and the output writer.
 */
export class Engine extends EventEmitter<EngineEvents> {
  readonly runId: string;
  private readonly pool: ProjectPool;
  private readonly writer: AtomicWriter;
  private readonly stopController = new AbortController();
  private stopReason: RunOutcome | undefined;
  private fatal: GenbatchError | undefined;
  private cursor = -1;
  private taken = 0;

  constructor(private readonly options: EngineOptions) {
    super();
    this.runId = options.runId ?? `${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomUUID().slice(0, 8)}`;
    this.writer = new AtomicWriter(scratchDirFor(options.job));
    this.pool = new ProjectPool(options.credentials, {
      maxStallMs: options.job.limits.maxStallMs,
      createClient: options.createClient ?? createClient,
      onWaiting: (reason, untilMs) => this.emit('run:waiting', { reason, untilMs }),
      onStateChange: (snapshot) => {
        if (snapshot.state === 'active') this.emit('project:active', { project: snapshot.name });
        // Saved at once, so an immediate resume respects cooldowns and daily exhaustion.
        if (options.store.db.open) options.store.saveProjectStates(this.pool.persistable());
      },
      requestsToday: (project, model) => options.store.requestsSince(project, model, new Date(nextDailyReset(Date.now()) - 86_400_000).toISOString()),
    });
    this.pool.restore(options.store.loadProjectStates());
  }

  /** A reloaded credentials file takes effect at once, without losing calls in flight. */
  updateCredentials(credentials: Credentials): ReturnType<ProjectPool['update']> {
    const change = this.pool.update(credentials);
    this.emit('credentials:reloaded', change);
    return change;
  }

  projects(): ReturnType<ProjectPool['snapshot']> {
    return this.pool.snapshot();
  }

  /** First Ctrl-C: take no new items, let the calls in flight finish and be checkpointed. */
  requestStop(reason: RunOutcome = 'cancelled'): void {
    if (this.stopController.signal.aborted) return;
    this.stopReason ??= reason;
    this.emit('run:stopping', { reason });
    this.stopController.abort();
  }

  private get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** The next item with work left, in input order; synchronous so workers never take the same item. */
  private nextItem(buffer: ItemRow[]): ItemRow | undefined {
    if (this.options.limit !== undefined && this.taken >= this.options.limit) return undefined;
    if (buffer.length === 0) buffer.push(...this.options.store.pendingItems(this.cursor, PAGE));
    const item = buffer.shift();
    if (item) {
      this.cursor = item.ord;
      this.taken += 1;
    }
    return item;
  }

  async run(): Promise<RunSummary> {
    const { job, store } = this.options;
    const started = Date.now();
    store.startRun({ id: this.runId, pid: process.pid, host: hostname(), options: { limit: this.options.limit ?? null } });
    const recovered = store.recoverAbandoned(this.runId);
    await this.writer.clearScratch();
    const total = store.itemCount();
    const pending = Math.min(store.pendingItemCount(), this.options.limit ?? Infinity);
    this.emit('run:start', { runId: this.runId, total, pending, recovered, steps: job.steps.map((s) => s.name) });

    if (pending === 0) {
      const counts = readCounts(store);
      this.emit('run:nothing', { runId: this.runId, total, done: counts.items.done, failed: counts.items.failed + counts.items.filtered });
    } else {
      const heartbeat = setInterval(() => store.heartbeat(this.runId), 5000);
      heartbeat.unref();
      const buffer: ItemRow[] = [];
      const worker = async (): Promise<void> => {
        while (!this.stopping) {
          const item = this.nextItem(buffer);
          if (!item) return;
          await this.processItem(item, buffer);
        }
      };
      try {
        await Promise.all(Array.from({ length: job.limits.concurrency }, worker));
      } finally {
        clearInterval(heartbeat);
      }
    }

    await writeEmbeddingFiles(job, store, this.writer);
    const resultsFile = await writeResults(job, store, scratchDirFor(job), job.resultsFields ? { fields: job.resultsFields } : {});
    const counts = readCounts(store);
    let outcome: RunOutcome;
    if (this.stopReason) outcome = this.stopReason;
    else if (counts.items.failed + counts.items.filtered > 0) outcome = 'failed_items';
    else outcome = 'finished';
    const exitCode = OUTCOME_EXIT_CODES[outcome];
    store.endRun(this.runId, outcome, exitCode);
    this.emit('run:end', {
      runId: this.runId,
      outcome,
      exitCode,
      counts: counts.steps,
      costUsd: counts.costUsd,
      requests: counts.requests,
      durationMs: Date.now() - started,
      ...(resultsFile ? { resultsFile } : {}),
    });
    return {
      runId: this.runId,
      outcome,
      exitCode,
      durationMs: Date.now() - started,
      ...(this.fatal ? { message: this.fatal.message, ...(this.fatal.hint ? { hint: this.fatal.hint } : {}) } : {}),
    };
  }

  /** The first step of an item that has work left, with what the item's earlier steps produced. */
  private nextUnit(item: ItemRow): Unit | undefined {
    const rows = this.options.store.itemSteps(item.id);
    const context: TemplateContext = { columns: item.values, steps: {}, styles: this.options.job.styles };
    for (const step of this.options.job.steps) {
      const row = rows.find((r) => r.step === step.name);
      if (row?.state === 'done') {
        context.steps[step.name] = row.result;
        continue;
      }
      if (row && row.state !== 'pending') return undefined;
      return { item, step, context, row };
    }
    return undefined;
  }

  private async processItem(item: ItemRow, buffer: ItemRow[]): Promise<void> {
    for (;;) {
      const unit = this.nextUnit(item);
      if (!unit || this.stopping) return;
      const units = [unit];
      const size = this.batchSize(unit.step);
      const later: ItemRow[] = [];
      // Embeddings: gather more items waiting at the same step, to send several texts per request.
      while (units.length < size && !this.stopping) {
        const next = this.nextItem(buffer);
        if (!next) break;
        const companion = this.nextUnit(next);
        if (companion && companion.step.name === unit.step.name) units.push(companion);
        else later.push(next);
      }
      const outcomes = await this.runStep(unit.step, units);
      // Companions go on with their own later steps; items of another step are done afterwards.
      for (const [index, other] of units.entries()) if (index > 0 && outcomes[index] === 'done') await this.processItem(other.item, buffer);
      for (const other of later) await this.processItem(other, buffer);
      if (outcomes[0] !== 'done') return;
    }
  }

  private batchSize(step: Step): number {
    if (step.task !== 'embedding') return 1;
    return Math.max(1, Math.min(step.batchSize ?? 5, maxEmbeddingBatch(step.model)));
  }

  private ledgerEntry(itemId: string, step: Step, project: string, httpStatus: number, usage: Usage, costUsd: number, durationMs: number, errorCode?: string): LedgerEntry {
    return {
      runId: this.runId,
      itemId,
      step: step.name,
      project,
      model: step.model,
      httpStatus,
      ...(errorCode ? { errorCode } : {}),
      ...usage,
      costUsd,
      durationMs,
    };
  }

  /** Every API call, as it ends: what logs and metrics count. */
  private emitCall(call: LedgerEntry, usage: Usage): void {
    this.emit('call:end', {
      itemId: call.itemId ?? '',
      step: call.step ?? '',
      project: call.project,
      model: call.model,
      httpStatus: call.httpStatus,
      ...(call.errorCode ? { errorCode: call.errorCode } : {}),
      usage,
      costUsd: call.costUsd,
      durationMs: call.durationMs,
    });
  }

  private fail(unit: Unit, code: string, message: string, extra: { promptHash?: string; costUsd?: number } = {}, call?: LedgerEntry): StepOutcome {
    this.options.store.finishStep(unit.item.id, unit.step.name, 'failed', { code, message, ...extra }, call);
    this.emit('step:failed', { itemId: unit.item.id, step: unit.step.name, code, message });
    return 'failed';
  }

  /**
   * One step for one item — or, for embeddings, for several items in one request. Borrows a
   * project, makes the call, and settles it: retry, requeue on quota, fail, or checkpoint the result.
   */
  private async runStep(step: Step, units: Unit[]): Promise<StepOutcome[]> {
    const { job, store, catalog } = this.options;
    const first = units[0] as Unit;
    // A long-running operation started by an interrupted run is polled, on the project that started it.
    let operationName = first.row?.operationName ?? undefined;
    const operationProject = operationName ? (first.row?.project ?? undefined) : undefined;
    const outcomes: StepOutcome[] = units.map(() => 'stopped');
    const live: { unit: Unit; index: number; rendered: RenderedStep }[] = [];
    for (const [index, unit] of units.entries()) {
      try {
        live.push({ unit, index, rendered: renderStep(job, step, unit.context) });
      } catch (error) {
        const message = error instanceof TemplateValueMissing ? `${error.message} for this item` : (error as Error).message;
        outcomes[index] = this.fail(unit, 'TEMPLATE_VALUE_MISSING', message);
      }
    }
    const lead = live[0];
    if (!lead) return outcomes;
    const request: ProviderRequest = {
      ...lead.rendered.request,
      ...(step.task === 'embedding' ? { texts: live.map((l) => l.rendered.request.prompt) } : {}),
      labels: { genbatch_job: job.name.toLowerCase().slice(0, 60) },
    };
    const provider = providerFor(step.task, step.model);
    let attempts = Math.max(...live.map((l) => l.unit.row?.attempts ?? 0));
    const inputText = (request.texts ?? [request.prompt]).join(' ') + (request.system ?? '');
    const worstCase = worstCaseCost(step, heuristicTokens(inputText), catalog);
    const withAudio = step.params.generate_audio === true;
    const each = (fn: (l: (typeof live)[number]) => void): void => live.forEach(fn);
    for (;;) {
      if (this.stopping) return outcomes;
      // Reserve the worst case before the call; a call that could cross the cap is not made.
      const reservation = this.options.budget?.reserve(worstCase);
      if (this.options.budget && !reservation) {
        this.fatal ??= this.options.budget.stopError(worstCase);
        this.requestStop('budget');
        return outcomes;
      }
      const settle = (usd: number): void => {
        if (reservation) this.options.budget?.settle(reservation, usd);
      };
      let lease;
      try {
        lease = await this.pool.acquire(step.model, step.pool ?? job.pool, this.stopController.signal, estimateTokens(request), operationName ? operationProject : undefined);
      } catch (error) {
        settle(0);
        this.stopOnPoolError(error);
        return outcomes;
      }
      const project = lease.project.name;
      each((l) => store.markRunning(l.unit.item.id, step.name, this.runId, project));
      each((l) => this.emit('step:start', { itemId: l.unit.item.id, step: step.name, project, attempt: attempts + 1 }));
      const t0 = Date.now();
      let result: ProviderResult;
      try {
        if (provider.callResumable && operationName) this.emit('operation:pending', { itemId: lead.unit.item.id, step: step.name, operationName, resumed: true });
        result = provider.callResumable
          ? await provider.callResumable(lease.client, request, {
              operationName,
              save: (name) => {
                operationName = name;
                store.setOperationName(lead.unit.item.id, step.name, name);
                this.emit('operation:pending', { itemId: lead.unit.item.id, step: step.name, operationName: name, resumed: false });
              },
            })
          : await provider.call(lease.client, request);
      } catch (raw) {
        lease.release();
        const error = classifyError(raw);
        const durationMs = Date.now() - t0;
        const httpStatus = error instanceof ProviderError ? (error.httpStatus ?? 0) : 0;
        // A reply that arrived but was unusable was still billed: keep its usage in the ledger.
        const usage = (error as { usage?: Usage }).usage ?? emptyUsage();
        const cost = error instanceof BadResponseError ? catalog.cost(step.model, usage, { withAudio }) : 0;
        settle(cost);
        const failedCall = this.ledgerEntry(lead.unit.item.id, step, project, httpStatus || (error instanceof BadResponseError ? 200 : 0), usage, cost, durationMs, error.code);
        store.insertLedger(failedCall);
        this.emitCall(failedCall, usage);
        if (error instanceof QuotaExhaustedError) {
          const until = this.pool.cooldown(project, step.model, {
            reason: error.perDay ? 'daily quota exhausted' : 'quota exhausted (429)',
            startedAt: t0,
            perDay: error.perDay,
            ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
          });
          this.emit('project:cooldown', { project, untilMs: until, reason: error.message, perDay: error.perDay });
          each((l) => store.markPending(l.unit.item.id, step.name, { countAttempt: false, errorCode: error.code, errorMessage: error.message }));
          continue; // straight back for another project, without using an attempt
        }
        if (error instanceof CredentialRejectedError) {
          this.pool.disable(project, `credential rejected (${error.httpStatus ?? ''} ${error.apiStatus ?? ''})`.replace(/\s+\)/, ')'));
          this.emit('project:disabled', { project, reason: error.message });
          each((l) => store.markPending(l.unit.item.id, step.name, { countAttempt: false, errorCode: error.code, errorMessage: error.message }));
          continue;
        }
        attempts += 1;
        if (error.retryable && attempts < step.maxAttempts) {
          const delayMs =
            error instanceof ProviderError && error.retryAfterMs !== undefined
              ? error.retryAfterMs
              : backoffDelay(attempts, { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS, ...(this.options.random ? { random: this.options.random } : {}) });
          // A billed but unusable reply (bad JSON) is part of what the item cost.
          each((l) => store.markPending(l.unit.item.id, step.name, { countAttempt: true, errorCode: error.code, errorMessage: error.message, costUsd: cost / live.length }));
          each((l) => this.emit('step:retry', { itemId: l.unit.item.id, step: step.name, project, code: error.code, message: error.message, attempt: attempts, delayMs }));
          await sleep(delayMs, this.stopController.signal);
          continue;
        }
        const message = error.retryable ? `${error.message} (gave up after ${attempts} attempts)` : error.message;
        each((l) => (outcomes[l.index] = this.fail(l.unit, error.code, message, { promptHash: l.rendered.promptHash, costUsd: cost / live.length })));
        return outcomes;
      }
      lease.release(result.usage.inputTokens + result.usage.outputTokens + result.usage.thoughtsTokens);
      const durationMs = Date.now() - t0;
      const costUsd = catalog.cost(step.model, result.usage, { withAudio });
      settle(costUsd);
      this.pool.succeeded(project, step.model, costUsd);
      // One ledger row per API call (on the first item of a batch); each item carries its share of the cost.
      const call = this.ledgerEntry(lead.unit.item.id, step, project, 200, result.usage, costUsd, durationMs);
      this.emitCall(call, result.usage);
      const share = costUsd / live.length;
      for (const [position, l] of live.entries()) {
        const ledger = position === 0 ? call : undefined;
        const own: ProviderResult = step.task === 'embedding' ? { ...result, vectors: [result.vectors?.[position] ?? []] } : result;
        outcomes[l.index] = await this.settleSuccess(l.unit, l.rendered, own, share, durationMs, project, ledger);
      }
      return outcomes;
    }
  }

  /** Writes the outputs and checkpoints the step (or marks it filtered / failed when unusable). */
  private async settleSuccess(unit: Unit, rendered: RenderedStep, result: ProviderResult, costUsd: number, durationMs: number, project: string, call: LedgerEntry | undefined): Promise<StepOutcome> {
    const { job, store } = this.options;
    const { item, step } = unit;
    if (result.filtered) {
      store.finishStep(item.id, step.name, 'filtered', { code: 'SAFETY_FILTERED', message: result.filtered.reason, promptHash: rendered.promptHash, costUsd }, call);
      this.emit('step:filtered', { itemId: item.id, step: step.name, reason: result.filtered.reason });
      return 'filtered';
    }
    let outputs: string[] = [];
    try {
      // Embedding vectors go to one file per step, written from the state at the end of the run.
      if (rendered.outputName !== undefined && step.task !== 'embedding') outputs = await writeStepOutputs(job, step, item.id, rendered.outputName, rendered.post, result, this.writer);
    } catch (error) {
      const code = error instanceof ConfigError ? error.code : 'OUTPUT_WRITE_FAILED';
      return this.fail(unit, code, `could not write the output: ${(error as Error).message}`, { promptHash: rendered.promptHash, costUsd }, call);
    }
    const stepResult = this.stepResult(result, outputs);
    store.completeStep(item.id, step.name, { result: stepResult, outputs, promptHash: rendered.promptHash, costUsd }, call);
    unit.context.steps[step.name] = stepResult;
    this.emit('step:done', { itemId: item.id, step: step.name, project, costUsd, durationMs, outputs });
    return 'done';
  }

  /** What later steps and the results file can use: JSON fields, text, output file, vector. */
  private stepResult(result: ProviderResult, outputs: string[]): Record<string, unknown> {
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

  private stopOnPoolError(error: unknown): StepOutcome {
    if (error instanceof StopRequestedError) return 'stopped';
    if (error instanceof StalledOnQuotaError) {
      this.fatal ??= error;
      this.requestStop('stalled');
      return 'stopped';
    }
    if (error instanceof NoUsableProjectError) {
      this.fatal ??= error;
      this.requestStop('no_projects');
      return 'stopped';
    }
    throw error;
  }
}
