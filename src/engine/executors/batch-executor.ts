import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import type { BatchJob, GoogleGenAI } from '@google/genai';
import type { Credentials, ProjectCredentials } from '../../credentials/credentials.js';
import { BatchStepStoppedError } from '../../errors/batch-step-stopped-error.js';
import { ConfigError } from '../../errors/config-error.js';
import type { GenbatchError } from '../../errors/genbatch-error.js';
import { ProviderError, QuotaExhaustedError, TransientError } from '../../errors/provider-errors.js';
import { RETRY_LATER, type Reservation, type SpendGuard } from '../../estimate/budget.js';
import type { Step } from '../../job/job.js';
import { batchRequestOf, batchResultOf } from '../../providers/gemini-batch.js';
import { usageOf } from '../../providers/gemini-reply.js';
import { emptyUsage, type ProviderRequest, type ProviderResult, type Usage } from '../../providers/provider.js';
import { classifyError } from '../../resilience/classify-error.js';
import type { LedgerEntry } from '../../store/rows.js';
import type { BatchExecutorState } from '../../store/interfaces/run-state.js';
import { scratchDirFor } from '../paths.js';
import type { RenderedStep } from '../render-step.js';
import type { Unit } from '../unit.js';
import { VertexBatchService, type BatchService } from './batch-service.js';
import type { ExecutionContext, OnlineExecutor } from './online-executor.js';
import type { Settled, Turn, TurnOptions, UnitExecutor } from './step-executor.js';
import { Wake } from '../wake.js';
import { reactionTo } from '../error-reactions.js';
import { callEnded, callRecord } from './call-record.js';
import { BatchLineMatcher, ITEM_LABEL, itemLabel, requestHash } from './batch-matching.js';
import { fromWall, steadyNow } from '../../resilience/steady-clock.js';

/** Vertex refuses batch input files above 1 GB. */
export const MAX_BATCH_INPUT_BYTES = 1_000_000_000;
/** A batch job that could not be created for a passing reason (429, 5xx, network) is tried again after this. */
const CREATE_RETRY_MS = 30_000;

const TERMINAL = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_PARTIALLY_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_EXPIRED']);
/** Ended without answering every line: the unanswered units go back to pending, with the reason. */
const UNFINISHED_REASON: Record<string, string> = {
  JOB_STATE_EXPIRED: 'the batch job expired at Vertex before this request was answered',
  JOB_STATE_CANCELLED: 'the batch job was cancelled before this request was answered',
  JOB_STATE_FAILED: 'the batch job failed at Vertex',
};

export interface BatchContext extends ExecutionContext {
  store: BatchExecutorState;
  /** Writes outputs and checkpoints a reply exactly as an online call's (outputs, JSON, filtered). */
  online: OnlineExecutor;
  budget: SpendGuard | undefined;
  /** The credentials in force (the file may be reloaded during a run). */
  credentials: () => Credentials;
  signal: AbortSignal;
  /** Submit and return: do not wait for batch jobs to finish (each is polled once). */
  noWait: boolean;
  /** Nothing fits under the budget and nothing holds a reservation that could free room. */
  onBudgetRefused: (worstCaseUsd: number) => void;
  /** A batch step stopped for this run (lines that match no item, staging that failed); the other steps go on. */
  onStepStopped?: (error: BatchStepStoppedError) => void;
  /** Vertex AI's batch jobs and Cloud Storage (the SDK and its client library when absent; unit tests give a fake). */
  service?: BatchService;
}

/** A unit in a batch job: what it asked and what was set aside for it. */
interface Member {
  unit: Unit;
  rendered: RenderedStep;
  request: ProviderRequest;
  reservedUsd: number;
  reservation: Reservation | undefined;
  ledgerId: number | undefined;
  /** SHA-256 of the submitted request's canonical form: the last way to find its output line. */
  hash: string | undefined;
}

/** A batch job this run follows, from its submission (or adoption) until its units are settled. */
interface Tracked {
  id: string;
  step: Step;
  project: string;
  name: string | undefined;
  state: string;
  inputUri: string;
  outputUri: string;
  members: Map<string, Member>;
  createdAt: number;
  polls: number;
  nextAt: number;
  busy: boolean;
}

/** The request with the item's key in its labels, where Vertex must echo it back. */
function labelled(request: ProviderRequest, itemId: string): ProviderRequest {
  return { ...request, labels: { ...request.labels, [ITEM_LABEL]: itemLabel(itemId) } };
}

/** An output line that answers no item of its job. */
interface UnmatchedLine {
  /** 1-based, in the order read. */
  line: number;
  why: string;
  /** What Vertex billed for it (a line with a response); undefined for a failed line. */
  usage: Usage | undefined;
}

/** Staging in Cloud Storage failed: the error a batch step stops with. */
function stagingError(step: string, project: string, what: string, raw: unknown, after?: string): BatchStepStoppedError {
  const cause = raw instanceof Error ? raw.message : String(raw);
  return new BatchStepStoppedError(
    step,
    'BATCH_STAGING_FAILED',
    `Batch step "${step}" stopped: ${what} on project "${project}" failed: ${cause}`,
    `Check batch.staging (or staging_bucket of project "${project}") and that its credentials can reach that bucket (a project with only an api_key cannot; give it a key_file or Application Default Credentials). ${after ?? "Then run the job again: the step's items are pending, and nothing was submitted twice."}`,
    raw,
  );
}

/** What Vertex billed for a line's response (nothing for a line that failed). */
function lineUsage(response: unknown): Usage | undefined {
  if (response === null || typeof response !== 'object') return undefined;
  return usageOf(response as Parameters<typeof usageOf>[0]);
}

/**
 * Whether a line answers an item of its job an earlier run already settled (it died while
 * collecting the job): named by key or label, else by its request hash (each such hash once).
 */
function answeredEarlier(line: { key?: unknown; request?: unknown }, earlier: ReadonlySet<string>, hashes: Map<string, number>): boolean {
  if (typeof line.key === 'string' && earlier.has(line.key)) return true;
  const labels = (line.request as { labels?: Record<string, unknown> } | undefined)?.labels;
  const label = labels?.[ITEM_LABEL];
  if (typeof label === 'string') return earlier.has(label);
  const hash = requestHash(line.request);
  const left = hash === undefined ? 0 : (hashes.get(hash) ?? 0);
  if (left === 0) return false;
  hashes.set(hash as string, left - 1);
  return true;
}

/**
 * The lines Vertex billed, from the job's own completionStats (`successfulCount`, an int64 sent as
 * a string); undefined when the job does not say (it never started, or the job is gone).
 */
function successfulCount(remote: BatchJob): number | undefined {
  const raw = remote.completionStats?.successfulCount;
  if (raw === undefined || raw === null) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** `"Internal Server Error: {…"code":500…}"` → 500; 0 when the status names no code. */
function statusCode(status: string): number {
  const match = /"code":\s*(\d{3})/.exec(status);
  return match ? Number(match[1]) : 0;
}

/**
 * Vertex AI batch prediction for steps whose mode resolves to batch. Units of such a step are
 * gathered (the scheduler hands them over instead of queuing them in a lane), written as JSONL
 * chunks of at most `batch.max_requests` lines and 1 GB with the item id as each line's key,
 * reserved against the budget at the batch price (a chunk that would cross the cap is cut), staged
 * in Cloud Storage and submitted. The job's row, its units (`running`, with the job's id) and their
 * ledger intent rows are committed before the upload, and the Vertex name right after the create
 * call returns: a run killed at any moment leaves a state from which the next run finds every job
 * it may have submitted (by display name when the name was not saved yet) and polls it.
 *
 * When a job ends, its output is streamed line by line and each line settled like an online reply
 * (the same checkpoint). Lines that failed are retried in the next batch job, within max_attempts;
 * units an expired, cancelled or failed job did not answer go back to pending with the reason and
 * are left for the next run. Staging files are deleted once a job is settled.
 */
export class BatchExecutor implements UnitExecutor {
  readonly wake = new Wake();
  private readonly service: BatchService;
  /** Units settled since the scheduler's last turn (by a batch job, or a submission that failed). */
  private settled: Settled[] = [];
  /** An error no reaction covers (a state conflict, a bug), for the scheduler's next turn: the run stops. */
  private failed: unknown;
  /** Finding an earlier run's batch jobs: units settled meanwhile were never handed to the scheduler. */
  private resuming = false;
  private readonly buffers = new Map<string, Unit[]>();
  private readonly tracked = new Map<string, Tracked>();
  private readonly modes = new Map<string, boolean>();
  /** Batch steps stopped for this run, with why: their units are released, none is submitted. */
  private readonly stopped = new Map<string, BatchStepStoppedError>();
  /** Submissions, polls and collections under way (the run waits for them before it stops). */
  private active = 0;
  /** Nothing more fits under the budget until a reservation is settled. */
  private budgetBlocked = false;
  /** Units of batch jobs found in the state at the start of the run (the scheduler counts them in memory). */
  adoptedUnits = 0;

  constructor(private readonly ctx: BatchContext) {
    this.service = ctx.service ?? new VertexBatchService();
  }

  /** Whether the unit's step runs in batch in this pass (`auto`: when at least batch.min_items wait). */
  takes(unit: Unit): boolean {
    const mode = unit.step.mode ?? 'online';
    if (mode === 'online') return false;
    // A paid reply kept because its outputs could not be written (disk full, a write that failed) is
    // written by the online path from the kept reply, without a call: never submitted again.
    if (this.ctx.held.has(unit.item.id, unit.step.name)) return false;
    if (mode === 'batch') return true;
    let batch = this.modes.get(unit.step.name);
    if (batch === undefined) {
      batch = this.ctx.store.steps.unfinishedCount(unit.step.name) >= (this.ctx.job.batch?.minItems ?? 1000);
      this.modes.set(unit.step.name, batch);
    }
    return batch;
  }

  add(unit: Unit): void {
    if (this.stopped.has(unit.step.name)) {
      // Pending in the state: the next run takes it (after the person has read why the step stopped).
      this.hand([{ unit, verdict: { kind: 'released' } }]);
      return;
    }
    const buffer = this.buffers.get(unit.step.name);
    if (buffer) buffer.push(unit);
    else this.buffers.set(unit.step.name, [unit]);
  }

  /**
   * Stops a batch step for the rest of this run: its gathered units go back to pending, and units
   * that reach it later too. Its batch jobs already at Vertex are still followed and collected.
   */
  private stopStep(error: BatchStepStoppedError): void {
    if (this.stopped.has(error.step)) return;
    this.stopped.set(error.step, error);
    const buffer = this.buffers.get(error.step) ?? [];
    this.buffers.set(error.step, []);
    this.ctx.emit('batch:stopped', { step: error.step, code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) });
    this.ctx.onStepStopped?.(error);
    if (buffer.length > 0) this.hand(buffer.map((unit) => ({ unit, verdict: { kind: 'released' } })));
  }

  /** Units gathered, batch jobs followed, or work under way: the scheduler keeps running for it. */
  get busy(): boolean {
    if (this.active > 0) return true;
    for (const buffer of this.buffers.values()) if (buffer.length > 0 && !this.budgetBlocked) return true;
    for (const t of this.tracked.values()) if (!this.ctx.noWait || t.polls === 0) return true;
    return false;
  }

  /** Submissions, polls and collections still under way. */
  get inFlight(): number {
    return this.active;
  }

  /** Batch jobs followed and not settled. */
  get outstanding(): number {
    return this.tracked.size;
  }

  /**
   * One turn of the scheduler: hands back the units settled since the last, submits full chunks
   * (every gathered unit when `drain`: nothing more is coming soon), and polls the jobs that are due.
   */
  turn(now: number, how: TurnOptions): Turn {
    const nextAt = how.stopping ? Number.POSITIVE_INFINITY : this.tick(now, how.drain);
    const turn: Turn = { settled: this.settled, nextAt };
    this.settled = [];
    if (this.failed !== undefined) turn.failed = this.failed;
    this.failed = undefined;
    return turn;
  }

  /** Units settled: handed to the scheduler at its next turn. */
  private hand(settled: Settled[]): void {
    if (this.resuming) return;
    this.settled.push(...settled);
    this.wake.notify();
  }

  /** Submits full chunks (all when `drain`) and polls the jobs that are due; returns when it next needs a turn. */
  private tick(now: number, drain: boolean): number {
    let nextAt = Number.POSITIVE_INFINITY;
    if (this.ctx.signal.aborted) return nextAt;
    const max = this.ctx.job.batch?.maxRequests ?? 200_000;
    for (const [, buffer] of this.buffers) {
      if (this.budgetBlocked) break;
      while (buffer.length >= max) this.run(() => this.submit(buffer.splice(0, max)));
      if (drain && buffer.length > 0) this.run(() => this.submit(buffer.splice(0, buffer.length)));
    }
    for (const t of this.tracked.values()) {
      if (t.busy || !t.name) continue;
      if (this.ctx.noWait && t.polls > 0) continue;
      if (t.nextAt <= now) {
        t.busy = true;
        this.run(() => this.poll(t)).finally(() => (t.busy = false));
      } else nextAt = Math.min(nextAt, t.nextAt);
    }
    return nextAt;
  }

  /** Says which batch jobs are left running at Vertex when the run ends without waiting for them. */
  left(): void {
    if (this.tracked.size === 0) return;
    let requests = 0;
    for (const t of this.tracked.values()) requests += t.members.size;
    this.ctx.emit('batches:left', { count: this.tracked.size, requests });
  }

  private run(work: () => Promise<void>): Promise<void> {
    this.active += 1;
    return work()
      .catch((error: unknown) => {
        this.failed ??= error;
      })
      .finally(() => {
        this.active -= 1;
        this.wake.notify();
      });
  }

  private project(name: string): ProjectCredentials | undefined {
    return this.ctx.credentials().projects.find((p) => p.name === name);
  }

  private stagingFor(project: ProjectCredentials): string {
    const staging = this.ctx.job.batch?.staging ?? project.stagingBucket;
    if (!staging) {
      throw new ConfigError(`${this.ctx.job.file}: batch.staging: batch prediction needs a Cloud Storage location for its input and output files`, {
        file: this.ctx.job.file,
        keyPath: 'batch.staging',
        hint: `Set batch: { staging: gs://BUCKET/PREFIX } in the job file, or staging_bucket: gs://BUCKET on project "${project.name}" in the credentials file.`,
      });
    }
    return staging.replace(/\/+$/, '');
  }

  /**
   * Finds the batch jobs an earlier run submitted and did not settle: their units become this
   * run's, their reservations are held, and they are polled. A job whose name was not saved (the
   * run died during the create call) is looked up by its display name; not found, it was never
   * submitted and its units go back to pending.
   */
  async resume(): Promise<void> {
    this.resuming = true;
    try {
      await this.adoptAll();
    } finally {
      this.resuming = false;
    }
  }

  private async adoptAll(): Promise<void> {
    const { store, job, runId, budget } = this.ctx;
    for (const row of store.batches.unsettled()) {
      const step = job.steps.find((s) => s.name === row.step);
      await store.commit(() => store.batches.adopt(row.id, runId));
      const intents = store.batches.intents(row.id);
      const hashes = store.batches.requestHashes(row.id);
      const members = new Map<string, Member>();
      const rejected: Settled[] = [];
      for (const itemId of store.batches.runningUnits(row.id)) {
        const unit = step && this.unitOf(itemId, step);
        if (!unit) continue;
        const { call } = this.ctx.online.prepare([unit]);
        const intent = intents.get(itemId);
        if (!call) {
          rejected.push({ unit, verdict: { kind: 'failed' } });
          continue;
        }
        const reservedUsd = intent?.reservedUsd ?? 0;
        members.set(itemId, {
          unit,
          rendered: (call.live[0] as { rendered: RenderedStep }).rendered,
          request: call.request,
          reservedUsd,
          // Already being paid for: held without refusing, moved from the spend read at the start.
          reservation: budget?.hold(reservedUsd, intent !== undefined),
          ledgerId: intent?.id,
          // As submitted (a state from before schema 9 has none: worked out again).
          hash: hashes.get(itemId) ?? this.hashOf(call.request, itemId),
        });
      }
      this.adoptedUnits += members.size;
      const tracked: Tracked = {
        id: row.id,
        step: step ?? ({ name: row.step, model: row.model } as Step),
        project: row.project,
        name: row.name ?? undefined,
        state: row.state,
        inputUri: row.inputUri,
        outputUri: row.outputUri,
        members,
        createdAt: fromWall(Date.parse(row.createdAt)),
        polls: 0,
        nextAt: steadyNow(),
        busy: false,
      };
      this.tracked.set(row.id, tracked);
      if (!tracked.name) {
        const client = this.ctx.pool.clientFor(row.project);
        const found = client ? await this.service.findByDisplayName(client, row.id) : undefined;
        if (found?.name) {
          await store.commit(() => store.batches.named(row.id, found.name as string, String(found.state ?? 'JOB_STATE_QUEUED')));
          tracked.name = found.name;
        } else {
          this.hand(await this.release(tracked, 'the run stopped before this batch job was submitted', false, 'NOT_SUBMITTED'));
          continue;
        }
      }
      this.ctx.emit('batch:submitted', { name: tracked.name, step: row.step, project: row.project, requests: members.size, resumed: true });
      if (rejected.length > 0) this.hand(rejected);
    }
  }

  /** Asks Vertex to cancel every batch job followed (`genbatch cancel`); they are then polled until they end. */
  async cancelAll(): Promise<string[]> {
    const cancelled: string[] = [];
    for (const t of this.tracked.values()) {
      if (!t.name || TERMINAL.has(t.state)) continue;
      const client = this.ctx.pool.clientFor(t.project);
      if (!client) continue;
      try {
        await this.service.cancel(client, t.name);
        cancelled.push(t.name);
      } catch (raw) {
        // A job that finished meanwhile cannot be cancelled: it is collected as it is.
        const error = classifyError(raw);
        if (!(error instanceof ProviderError && error.httpStatus === 400)) throw error;
      }
      t.nextAt = steadyNow();
    }
    return cancelled;
  }

  /** The hash of the request a unit's line carried, worked out again (undefined if it cannot be rendered now). */
  private hashOf(request: ProviderRequest, itemId: string): string | undefined {
    try {
      return requestHash(batchRequestOf(labelled(request, itemId)));
    } catch {
      return undefined;
    }
  }

  /** The unit of an item at `step`, with what its earlier steps produced (a job adopted from an earlier run). */
  private unitOf(itemId: string, step: Step): Unit | undefined {
    const { store, job } = this.ctx;
    const item = store.getItem(itemId);
    if (!item) return undefined;
    const rows = store.itemSteps(itemId);
    const context = { columns: item.values, steps: {} as Record<string, Record<string, unknown>>, styles: job.styles };
    for (const row of rows) if (row.state === 'done') context.steps[row.step] = row.result as Record<string, unknown>;
    const own = rows.find((r) => r.step === step.name);
    return { item, step, context, attempts: own?.attempts ?? 0, operationName: undefined, operationProject: undefined };
  }

  /** Renders, reserves, writes, stages and submits one chunk of a step's units. */
  private async submit(units: Unit[]): Promise<void> {
    const { job, store, pool, runId, budget, catalog, emit, signal } = this.ctx;
    const step = (units[0] as Unit).step;
    // Batch prediction is Vertex AI's: Gemini API keys of the pool take no batch jobs.
    const lease = await pool.acquire(step.model, step.pool ?? job.pool, signal, 0, undefined, 'vertex');
    if (!lease) {
      // Stopping, or no project can serve the model: the units stay pending for the next run.
      this.hand(units.map((unit) => ({ unit, verdict: { kind: 'released' } })));
      return;
    }
    let released = false;
    const releaseLease = (): void => {
      if (!released) lease.release();
      released = true;
    };
    try {
      const project = lease.project;
      const id = `genbatch-${job.name.toLowerCase().slice(0, 40)}-${randomUUID().slice(0, 8)}`;
      let staging: string;
      try {
        staging = this.stagingFor(project);
      } catch (error) {
        this.hand(units.map((unit) => ({ unit, verdict: { kind: 'released' } })));
        this.stopStep(stagingError(step.name, project.name, 'finding where to stage batch files', error));
        return;
      }
      const base = `${staging}/genbatch/${job.name}/${id}`;
      const scratch = scratchDirFor(job);
      await mkdir(scratch, { recursive: true });
      const localFile = join(scratch, `${id}.jsonl`);
      const out = createWriteStream(localFile);
      const members = new Map<string, Member>();
      const settled: Settled[] = [];
      const leftover: Unit[] = [];
      let bytes = 0;
      let refusedUsd = 0;
      for (const unit of units) {
        if (leftover.length > 0) {
          leftover.push(unit);
          continue;
        }
        const { call, rejected } = this.ctx.online.prepare([unit]);
        settled.push(...rejected);
        if (!call) continue;
        let line: string;
        let hash: string | undefined;
        try {
          // The key rides in the request's labels (Vertex echoes the request, not our other fields); `key` is kept for services that echo it.
          const request = batchRequestOf(labelled(call.request, unit.item.id));
          hash = requestHash(request);
          line = `${JSON.stringify({ key: unit.item.id, request })}\n`;
        } catch (error) {
          const code = error instanceof ConfigError ? error.code : 'BAD_REQUEST';
          store.finishStep(unit.item.id, step.name, 'failed', { code, message: (error as Error).message }, undefined, runId);
          emit('step:failed', { itemId: unit.item.id, step: step.name, code, message: (error as Error).message });
          settled.push({ unit, verdict: { kind: 'failed' } });
          continue;
        }
        const size = Buffer.byteLength(line);
        const reservedUsd = call.worstCaseUsd * (1 - catalog.batchDiscount);
        if (members.size > 0 && bytes + size > MAX_BATCH_INPUT_BYTES) {
          leftover.push(unit);
          continue;
        }
        const answer = budget ? await budget.reserve(reservedUsd) : undefined;
        const reservation = answer === RETRY_LATER ? undefined : answer;
        if (budget && !reservation) {
          // The chunk is cut where it would cross the cap (or waits while a shared budget cannot answer).
          refusedUsd = reservedUsd;
          if (answer === RETRY_LATER) this.budgetBlocked = true;
          leftover.push(unit);
          continue;
        }
        bytes += size;
        if (!out.write(line)) await once(out, 'drain');
        members.set(unit.item.id, {
          unit,
          rendered: (call.live[0] as { rendered: RenderedStep }).rendered,
          request: call.request,
          reservedUsd,
          reservation,
          ledgerId: undefined,
          hash,
        });
      }
      out.end();
      await once(out, 'close');
      if (settled.length > 0) this.hand(settled);
      if (leftover.length > 0) {
        this.buffers.get(step.name)?.unshift(...leftover);
        if (refusedUsd > 0) {
          if (budget?.holding) this.budgetBlocked = true;
          else {
            this.buffers.set(step.name, []);
            this.hand(leftover.map((unit) => ({ unit, verdict: { kind: 'released' } })));
            this.ctx.onBudgetRefused(refusedUsd);
          }
        }
      }
      if (members.size === 0) {
        await rm(localFile, { force: true });
        return;
      }
      const tracked: Tracked = {
        id,
        step,
        project: project.name,
        name: undefined,
        state: 'SUBMITTING',
        inputUri: `${base}/input.jsonl`,
        outputUri: `${base}/output`,
        members,
        createdAt: steadyNow(),
        polls: 0,
        nextAt: Number.POSITIVE_INFINITY,
        busy: true,
      };
      // Intent before spend: the job's row, its units running in it and their ledger rows, durable before the upload.
      await store.commit(() => {
        store.batches.open({
          id,
          step: step.name,
          project: project.name,
          model: step.model,
          inputUri: tracked.inputUri,
          outputUri: tracked.outputUri,
          requests: members.size,
        });
        for (const m of members.values()) {
          store.markRunning(m.unit.item.id, step.name, runId, project.name);
          store.batches.assign(id, m.unit.item.id, step.name, m.hash);
          m.ledgerId = store.openCall({ runId, itemId: m.unit.item.id, step: step.name, project: project.name, model: step.model, reservedUsd: m.reservedUsd });
        }
      });
      this.tracked.set(id, tracked);
      try {
        await this.service.upload(project, localFile, tracked.inputUri);
      } catch (error) {
        // Nothing was submitted: the units go back to pending, and the step stops (other steps go on).
        const stop = stagingError(step.name, project.name, `uploading the batch input to ${tracked.inputUri}`, error);
        this.hand(await this.release(tracked, stop.message, false, 'BATCH_STAGING_FAILED'));
        this.stopStep(stop);
        return;
      } finally {
        await rm(localFile, { force: true });
      }
      let created: BatchJob;
      try {
        created = await this.service.create(lease.client, { model: step.model, src: tracked.inputUri, dest: tracked.outputUri, displayName: id });
      } catch (raw) {
        releaseLease();
        await this.createFailed(tracked, lease.client, classifyError(raw));
        return;
      }
      // The name, before anything else: a resume polls this job instead of submitting the units again.
      await store.commit(() => store.batches.named(id, created.name as string, String(created.state ?? 'JOB_STATE_QUEUED')));
      releaseLease();
      tracked.name = created.name;
      tracked.state = String(created.state ?? 'JOB_STATE_QUEUED');
      tracked.nextAt = steadyNow() + (job.batch?.pollMs ?? 30_000);
      tracked.busy = false;
      emit('batch:submitted', { name: tracked.name as string, step: step.name, project: project.name, requests: members.size, resumed: false });
    } finally {
      releaseLease();
    }
  }

  /** The create call failed: the job may still exist (the reply was lost), else its units are settled. */
  private async createFailed(tracked: Tracked, client: GoogleGenAI, error: Error): Promise<void> {
    const found = await this.service.findByDisplayName(client, tracked.id).catch(() => undefined);
    if (found?.name) {
      await this.ctx.store.commit(() => this.ctx.store.batches.named(tracked.id, found.name as string, String(found.state ?? 'JOB_STATE_QUEUED')));
      tracked.name = found.name;
      tracked.nextAt = steadyNow();
      tracked.busy = false;
      return;
    }
    const passing = error instanceof TransientError || error instanceof QuotaExhaustedError;
    const message = `the batch job could not be created: ${error.message}`;
    this.hand(passing ? await this.release(tracked, message, true, 'BATCH_CREATE_FAILED', CREATE_RETRY_MS) : await this.failAll(tracked, message));
  }

  private async poll(t: Tracked): Promise<void> {
    const client = this.ctx.pool.clientFor(t.project);
    const pollMs = this.ctx.job.batch?.pollMs ?? 30_000;
    if (!client || !t.name) {
      t.nextAt = steadyNow() + pollMs;
      return;
    }
    let remote: BatchJob;
    try {
      remote = await this.service.get(client, t.name);
    } catch (raw) {
      const error = classifyError(raw);
      t.polls += 1;
      t.nextAt = steadyNow() + pollMs;
      if (error instanceof ProviderError && error.httpStatus === 404) {
        this.hand(await this.collect(t, { name: t.name, state: 'JOB_STATE_FAILED' } as BatchJob, `the batch job is gone at Vertex (${error.message})`));
      }
      return;
    }
    t.polls += 1;
    t.nextAt = steadyNow() + pollMs;
    const state = String(remote.state ?? t.state);
    const stats = remote.completionStats;
    const succeeded = Number(stats?.successfulCount ?? 0);
    const failed = Number(stats?.failedCount ?? 0);
    if (state !== t.state) {
      t.state = state;
      await this.ctx.store.commit(() => this.ctx.store.batches.update(t.id, state, succeeded, failed));
      this.ctx.emit('batch:state', { name: t.name, step: t.step.name, state, succeeded, failed });
    }
    if (TERMINAL.has(state)) this.hand(await this.collect(t, remote));
  }

  /**
   * A job ended. Each output line is matched to its item (by key, else label, else request hash;
   * never by position) and settled like an online reply; units an unfinished job (expired,
   * cancelled, failed) did not answer go back to pending; staging is deleted. Lines that match no
   * item, or items a finished job left without a line, fail those items and stop the step (see
   * settleUnmatched): nothing is resubmitted blindly.
   */
  private async collect(t: Tracked, remote: BatchJob, reason?: string): Promise<Settled[]> {
    const { store, emit } = this.ctx;
    const project = this.project(t.project);
    const state = String(remote.state);
    const settled: Settled[] = [];
    const unmatched: UnmatchedLine[] = [];
    const matcher = new BatchLineMatcher([...t.members].map(([itemId, member]) => ({ itemId, member, hash: member.hash })));
    // Items of this job an earlier run already settled (it died while collecting): their lines are not strangers.
    const before = store.batches.settledUnits(t.id);
    const earlier = new Set(before.flatMap((u) => [u.itemId, itemLabel(u.itemId)]));
    // Hash-only lines of those items: as many as they are, at most once each.
    const earlierHashes = new Map<string, number>();
    for (const u of before) if (u.hash) earlierHashes.set(u.hash, (earlierHashes.get(u.hash) ?? 0) + 1);
    let ok = 0;
    let failed = 0;
    let read = 0;
    /** Lines read that carry a response: what Vertex billed that this collection can account for. */
    let billedRead = 0;
    /** Lines that are not a JSON object (1-based, in the order read). */
    const damaged: number[] = [];
    const directory = remote.outputInfo?.gcsOutputDirectory;
    const durationMs = steadyNow() - t.createdAt;
    if (directory && project) {
      try {
        for await (const text of this.service.outputLines(project, directory)) {
          read += 1;
          let line: { key?: unknown; request?: unknown; response?: unknown; status?: unknown };
          try {
            line = JSON.parse(text) as typeof line;
          } catch {
            // A line cut or garbled (a file cut in half ends with one): whatever it answered cannot be read.
            damaged.push(read);
            continue;
          }
          if (line === null || typeof line !== 'object' || Array.isArray(line)) {
            damaged.push(read);
            continue;
          }
          const billedLine = line.response !== undefined && line.response !== null;
          if (billedLine) billedRead += 1;
          const found = matcher.match(line);
          if (!found) {
            if (earlier.size > 0 && answeredEarlier(line, earlier, earlierHashes)) continue;
            unmatched.push({ line: read, why: matcher.explain(line), usage: lineUsage(line.response) });
            continue;
          }
          const member = found.member;
          if (billedLine) {
            let result: ProviderResult;
            try {
              result = batchResultOf(line.response, member.request);
            } catch (raw) {
              const error = classifyError(raw);
              failed += 1;
              settled.push(await this.lineFailed(t, member, error.code, error.message, 200, (raw as { usage?: Usage }).usage, durationMs, replyOf(error)));
              continue;
            }
            ok += 1;
            settled.push(await this.lineAnswered(t, member, result, durationMs));
          } else {
            failed += 1;
            const status = typeof line.status === 'string' && line.status !== '' ? line.status : 'no response';
            settled.push(await this.lineFailed(t, member, 'BATCH_LINE_FAILED', `batch line failed: ${status}`, statusCode(status), undefined, durationMs));
          }
        }
      } catch (error) {
        return [...settled, ...this.unread(t, error)];
      }
    }
    const missing = [...t.members.values()];
    const why = reason ?? UNFINISHED_REASON[state] ?? 'the batch job ended without answering this request';
    const unfinished = UNFINISHED_REASON[state] !== undefined || reason !== undefined;
    // What Vertex billed and no readable line accounts for (its output deleted, cut or garbled): the
    // job's own completionStats say how many lines succeeded, whatever state it ended in. Without
    // them, a finished job billed every item it left without a line, and an unfinished one none.
    const successful = successfulCount(remote);
    const billedUnread = Math.min(
      missing.length,
      successful !== undefined
        ? Math.max(0, successful - billedRead)
        : unfinished
          ? 0
          : Math.max(0, missing.length - unmatched.filter((u) => u.usage !== undefined).length),
    );
    const mismatch = unmatched.length > 0 || billedUnread > 0;
    let requeued = 0;
    let note: string | null = null;
    if (mismatch) {
      const stop = await this.settleUnmatched(t, missing, unmatched, { billedUnread, damaged, successful, billedRead });
      settled.push(...stop.settled);
      note = stop.error.message;
    } else if (damaged.length > 0 && missing.length === 0) {
      // Every item got a readable line and nothing billed is left unread: the damaged lines cost nothing more, but are named.
      note = `${damaged.length} line(s) of the output are not JSON (line ${damaged.slice(0, 3).join(', ')}${damaged.length > 3 ? ', …' : ''}); every item got a readable line, so they were left aside`;
    } else if (missing.length > 0) {
      // Nothing billed is left unread: the units without a line were not answered (a job that ended
      // early, or failed lines whose part of the output is gone) and go back to pending.
      requeued = missing.length;
      note = unfinished ? why : `${why}; Vertex reports every billed line of the job as read here (completionStats), so this request was not answered`;
      for (const m of missing) t.members.delete(m.unit.item.id);
      const code = unfinished ? `BATCH_${state.replace(/^JOB_STATE_/, '')}` : 'BATCH_NO_LINE';
      settled.push(...(await this.releaseMembers(t, missing, why, state === 'JOB_STATE_FAILED', code)));
    }
    if (project) {
      await this.service.remove(project, t.inputUri).catch(() => undefined);
      // Output that could not all be matched is kept, for a person to look at.
      if (!mismatch) await this.service.remove(project, t.outputUri).catch(() => undefined);
    }
    await store.commit(() => {
      store.batches.settle(t.id, state, { succeeded: ok, failed }, note);
      if (mismatch) store.batches.unmatched(t.id, unmatched.length, missing.length, billedUnread);
    });
    this.tracked.delete(t.id);
    this.budgetBlocked = false;
    emit('batch:settled', {
      name: t.name ?? t.id,
      step: t.step.name,
      state,
      succeeded: ok,
      failed,
      requeued,
      ...(mismatch ? { unmatched: unmatched.length, missing: missing.length, unreadable: billedUnread } : {}),
      ...(damaged.length > 0 ? { damaged: damaged.length } : {}),
      ...(note !== null ? { reason: note } : {}),
    });
    return settled;
  }

  /**
   * Lines that match no item, or items left without a line while Vertex billed lines nobody can
   * read. Each unmatched line is a ledger row of its own with what Vertex billed for it (its
   * usageMetadata at the batch price). The items without a line fail (not retried: their reply may
   * be among the unmatched lines, or among the billed lines whose output is gone, and a blind
   * resubmission is how 300 items once became 900 paid requests). Their cost: `billedUnread` of them
   * (the job's completionStats less the billed lines read) at their reserved worst case, the ones
   * reserved highest first, since their usage cannot be read; the rest at $0 (their cost is in the
   * unmatched lines' rows, or Vertex did not bill them). The code says which: BATCH_UNMATCHED when
   * some line matched no item, else BATCH_OUTPUT_UNREADABLE. The step then stops for this run.
   */
  private async settleUnmatched(
    t: Tracked,
    missing: Member[],
    unmatched: UnmatchedLine[],
    read: { billedUnread: number; damaged: number[]; successful: number | undefined; billedRead: number },
  ): Promise<{ settled: Settled[]; error: BatchStepStoppedError }> {
    const { store, runId, emit, catalog, budget } = this.ctx;
    const name = t.name ?? t.id;
    const lineUsd = unmatched.map((u) => (u.usage ? catalog.batchCost(t.step.model, u.usage) : 0));
    const unmatchedUsd = lineUsd.reduce((a, b) => a + b, 0);
    // Which items carry the worst case is unknown: the ones reserved highest, so the booking is never below the bill.
    const worst = new Set([...missing].sort((a, b) => b.reservedUsd - a.reservedUsd).slice(0, read.billedUnread));
    const costs = missing.map((m) => (worst.has(m) ? m.reservedUsd : 0));
    const bookedUsd = costs.reduce((a, b) => a + b, 0);
    const code = unmatched.length > 0 ? 'BATCH_UNMATCHED' : 'BATCH_OUTPUT_UNREADABLE';
    const shown = unmatched
      .slice(0, 3)
      .map((u) => `line ${u.line}: ${u.why}`)
      .join('; ');
    const items = missing
      .slice(0, 5)
      .map((m) => `"${m.unit.item.id}"`)
      .join(', ');
    const damaged =
      read.damaged.length > 0
        ? ` (${read.damaged.length} line(s) are not JSON: line ${read.damaged.slice(0, 3).join(', ')}${read.damaged.length > 3 ? ', …' : ''})`
        : '';
    const unreadable =
      read.billedUnread > 0
        ? `Vertex billed ${read.billedUnread} line(s) whose output cannot be read${
            read.successful !== undefined ? ` (the job reports ${read.successful} successful line(s); ${read.billedRead} readable here)` : ''
          }${damaged}: the output was deleted, cut or garbled after the job ended. `
        : '';
    const lines =
      unmatched.length > 0 ? `${unmatched.length} output line(s) match no item${shown ? ` (${shown}${unmatched.length > 3 ? '; …' : ''})` : ''} and ` : '';
    const error = new BatchStepStoppedError(
      t.step.name,
      code,
      `Batch job ${name} (step "${t.step.name}"): ${unreadable}${lines}${missing.length} item(s) got no line${items ? ` (${items}${missing.length > 5 ? ', …' : ''})` : ''}. Those items failed with ${code} and the step stopped; nothing was resubmitted. Booked: ${
        unmatched.length > 0 ? `$${unmatchedUsd.toFixed(6)} for the unmatched lines (their own usage)` : ''
      }${unmatched.length > 0 && bookedUsd > 0 ? ', ' : ''}${bookedUsd > 0 ? `$${bookedUsd.toFixed(6)} (the reserved worst case of ${read.billedUnread} item(s)) for lines Vertex billed without a readable line` : ''}${unmatched.length === 0 && bookedUsd === 0 ? '$0' : ''}.`,
      `The job's output is kept at ${t.outputUri} for you to look at. \`genbatch retry JOB --failed\` submits the failed items again (and pays for them again); \`genbatch status JOB\` lists them.`,
    );
    const itemMessage =
      code === 'BATCH_UNMATCHED'
        ? `no output line of batch job ${name} matched this item (${unmatched.length} line(s) matched no item); not resubmitted`
        : `batch job ${name} has no readable line for this item, and Vertex billed ${read.billedUnread} line(s) that cannot be read; not resubmitted`;
    for (const [i, m] of missing.entries()) {
      this.settleBudget(m, costs[i] ?? 0);
      t.members.delete(m.unit.item.id);
    }
    // The unmatched lines' own cost counts against the budget like any call's.
    if (budget && unmatchedUsd > 0) budget.settle(budget.hold(unmatchedUsd, false), unmatchedUsd, t.project);
    const lineRows = unmatched.map((u, i) => {
      const entry = callRecord({
        runId,
        itemId: '',
        step: t.step.name,
        project: t.project,
        model: t.step.model,
        httpStatus: u.usage ? 200 : 0,
        errorCode: 'BATCH_LINE_UNMATCHED',
        usage: u.usage ?? emptyUsage(),
        costUsd: lineUsd[i] ?? 0,
        durationMs: 0,
      });
      delete entry.itemId;
      return entry;
    });
    await store.commit(() => {
      for (const entry of lineRows) store.recordCall(entry);
      for (const [i, m] of missing.entries()) {
        const entry = this.ledgerEntry(t, m, 0, emptyUsage(), costs[i] ?? 0, 0, code);
        store.finishStep(
          m.unit.item.id,
          t.step.name,
          'failed',
          { code, message: itemMessage, promptHash: m.rendered.promptHash, costUsd: costs[i] ?? 0 },
          entry,
          runId,
        );
      }
    });
    for (const [i, entry] of lineRows.entries()) emit('call:end', callEnded(entry, unmatched[i]?.usage ?? emptyUsage()));
    for (const m of missing) emit('step:failed', { itemId: m.unit.item.id, step: t.step.name, code, message: itemMessage });
    this.stopStep(error);
    return { settled: missing.map((m) => ({ unit: m.unit, verdict: { kind: 'failed' } })), error };
  }

  /**
   * The job's output could not be read: it stays unsettled in the state (its units running in it,
   * their ledger intent rows open), so the next run reads it again; the step stops for this run.
   */
  private unread(t: Tracked, raw: unknown): Settled[] {
    const members = [...t.members.values()];
    t.members.clear();
    for (const m of members) this.settleBudget(m, 0);
    this.tracked.delete(t.id);
    this.stopStep(
      stagingError(
        t.step.name,
        t.project,
        `reading the output of batch job ${t.name ?? t.id}`,
        raw,
        'Its output stays where it is and the job stays in the state: the next run reads it again and submits nothing twice.',
      ),
    );
    return members.map((m) => ({ unit: m.unit, verdict: { kind: 'released' } }));
  }

  private ledgerEntry(t: Tracked, m: Member, httpStatus: number, usage: Usage, costUsd: number, durationMs: number, errorCode?: string): LedgerEntry {
    return callRecord({
      id: m.ledgerId,
      runId: this.ctx.runId,
      itemId: m.unit.item.id,
      step: t.step.name,
      project: t.project,
      model: t.step.model,
      httpStatus,
      errorCode,
      usage,
      costUsd,
      durationMs,
    });
  }

  private settleBudget(m: Member, usd: number): void {
    if (m.reservation) this.ctx.budget?.settle(m.reservation, usd);
    m.reservation = undefined;
  }

  private async lineAnswered(t: Tracked, m: Member, result: ProviderResult, durationMs: number): Promise<Settled> {
    const costUsd = this.ctx.catalog.batchCost(t.step.model, result.usage);
    this.settleBudget(m, costUsd);
    const entry = this.ledgerEntry(t, m, 200, result.usage, costUsd, durationMs);
    this.ctx.emit('call:end', callEnded(entry, result.usage));
    t.members.delete(m.unit.item.id);
    return { unit: m.unit, verdict: await this.ctx.online.checkpoint(m.unit, m.rendered, result, costUsd, durationMs, t.project, entry) };
  }

  /** A line that failed: retried in the next batch job while attempts are left, else the step fails. */
  private async lineFailed(
    t: Tracked,
    m: Member,
    code: string,
    message: string,
    httpStatus: number,
    usage: Usage | undefined,
    durationMs: number,
    /** The line's reply: its finish reason, and `final` when another attempt would be cut the same way (TRUNCATED). */
    reply: { finishReason?: string; final?: boolean } = {},
  ): Promise<Settled> {
    const { store, runId, emit } = this.ctx;
    const finishReason = reply.finishReason === undefined ? {} : { finishReason: reply.finishReason };
    const costUsd = usage ? this.ctx.catalog.batchCost(t.step.model, usage) : 0;
    this.settleBudget(m, costUsd);
    const entry = this.ledgerEntry(t, m, httpStatus, usage ?? emptyUsage(), costUsd, durationMs, code);
    const attempts = m.unit.attempts + 1;
    const retry = attempts < t.step.maxAttempts && reply.final !== true;
    const unit = m.unit;
    t.members.delete(unit.item.id);
    await store.commit(() => {
      if (retry) {
        store.recordCall(entry);
        store.markPending(unit.item.id, t.step.name, { countAttempt: true, errorCode: code, errorMessage: message, costUsd, runId, ...finishReason });
      } else {
        const final = reply.final === true ? message : `${message} (gave up after ${attempts} attempts)`;
        store.finishStep(
          unit.item.id,
          t.step.name,
          'failed',
          { code, message: final, promptHash: m.rendered.promptHash, costUsd, ...finishReason },
          entry,
          runId,
        );
      }
    });
    emit('call:end', callEnded(entry, usage ?? emptyUsage()));
    if (retry) {
      unit.attempts = attempts;
      emit('step:retry', { itemId: unit.item.id, step: t.step.name, project: t.project, code, message, attempt: attempts, delayMs: 0 });
      return { unit, verdict: { kind: 'retry', delayMs: 0 } };
    }
    emit('step:failed', { itemId: unit.item.id, step: t.step.name, code, message });
    return { unit, verdict: { kind: 'failed' } };
  }

  /** Every unit of a job that never ran back to pending (its ledger intent rows settled at nothing). */
  private async release(t: Tracked, reason: string, countAttempt: boolean, code: string, retryAfterMs?: number): Promise<Settled[]> {
    const members = [...t.members.values()];
    t.members.clear();
    const settled = await this.releaseMembers(t, members, reason, countAttempt, code, retryAfterMs);
    await this.ctx.store.commit(() => this.ctx.store.batches.settle(t.id, t.name ? t.state : 'NOT_SUBMITTED', { succeeded: 0, failed: 0 }, reason));
    this.tracked.delete(t.id);
    const project = this.project(t.project);
    if (project) await this.service.remove(project, t.inputUri).catch(() => undefined);
    return settled;
  }

  /**
   * Units back to pending with the reason. Without `retryAfterMs` they are released for the next
   * run (an expired or cancelled job is not resubmitted in the same run); with it, retried then.
   */
  private async releaseMembers(t: Tracked, members: Member[], reason: string, countAttempt: boolean, code: string, retryAfterMs?: number): Promise<Settled[]> {
    const { store, runId } = this.ctx;
    for (const m of members) this.settleBudget(m, 0);
    await store.commit(() => {
      for (const m of members) {
        store.recordCall(this.ledgerEntry(t, m, 0, emptyUsage(), 0, 0, code));
        store.markPending(m.unit.item.id, t.step.name, { countAttempt, errorCode: code, errorMessage: reason, runId });
      }
    });
    return members.map((m) => {
      if (countAttempt) m.unit.attempts += 1;
      return retryAfterMs !== undefined && m.unit.attempts < t.step.maxAttempts
        ? { unit: m.unit, verdict: { kind: 'retry', delayMs: retryAfterMs } }
        : { unit: m.unit, verdict: { kind: 'released' } };
    });
  }

  /** A create call Vertex refused for good (400): the units fail with its message. */
  private async failAll(t: Tracked, message: string): Promise<Settled[]> {
    const { store, runId, emit } = this.ctx;
    const members = [...t.members.values()];
    t.members.clear();
    for (const m of members) this.settleBudget(m, 0);
    await store.commit(() => {
      for (const m of members) {
        const entry = this.ledgerEntry(t, m, 400, emptyUsage(), 0, 0, 'BATCH_CREATE_REFUSED');
        store.finishStep(m.unit.item.id, t.step.name, 'failed', { code: 'BATCH_CREATE_REFUSED', message }, entry, runId);
      }
      store.batches.settle(t.id, 'NOT_SUBMITTED', { succeeded: 0, failed: 0 }, message);
    });
    this.tracked.delete(t.id);
    for (const m of members) emit('step:failed', { itemId: m.unit.item.id, step: t.step.name, code: 'BATCH_CREATE_REFUSED', message });
    const project = this.project(t.project);
    if (project) await this.service.remove(project, t.inputUri).catch(() => undefined);
    return members.map((m) => ({ unit: m.unit, verdict: { kind: 'failed' } }));
  }
}

/** What a line's unusable reply says for lineFailed: its finish reason, and whether the step fails at once (reactions table: `fail`). */
function replyOf(error: GenbatchError): { finishReason?: string; final?: boolean } {
  const finishReason = error instanceof ProviderError ? error.finishReason : undefined;
  return { ...(finishReason === undefined ? {} : { finishReason }), final: reactionTo(error).unit === 'fail' };
}
