import { ProviderError } from '../../errors/provider-errors.js';
import type { Step } from '../../job/job.js';
import { batchRequestOf } from '../../providers/gemini-batch.js';
import type { ProviderRequest } from '../../providers/provider.js';
import { classifyError } from '../../resilience/classify-error.js';
import { renderStep, type RenderedStep } from '../render-step.js';
import { autoModeChoice } from '../auto-mode.js';
import type { Unit } from '../unit.js';
import type { Settled, Turn, TurnOptions, UnitExecutor } from './step-executor.js';
import { requestHash } from './batch-matching.js';
import { fromWall, steadyNow } from '../../resilience/steady-clock.js';
export { MAX_BATCH_INPUT_BYTES } from './batch-job.js';
import { TERMINAL, labelled, type Member, type Tracked } from './batch-job.js';
import { BatchSubmitter } from './batch-submit.js';

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
export class BatchExecutor extends BatchSubmitter implements UnitExecutor {
  private readonly modes = new Map<string, boolean>();
  /** Submissions, polls and collections under way (the run waits for them before it stops). */
  private active = 0;
  /** Units of batch jobs found in the state at the start of the run (the scheduler counts them in memory). */
  adoptedUnits = 0;

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
      const items = this.ctx.store.steps.unfinishedCount(unit.step.name);
      const minItems = this.ctx.job.batch?.minItems ?? 1000;
      batch = items >= minItems && !this.onlineIsCheaper(unit, items, minItems);
      this.modes.set(unit.step.name, batch);
    }
    return batch;
  }

  /** `auto`: online calls with a context cache cost less than a batch (the estimate's choice, issue 29). */
  private onlineIsCheaper(unit: Unit, items: number, minItems: number): boolean {
    try {
      const { request } = renderStep(this.ctx.job, unit.step, unit.context);
      const pool = unit.step.pool ?? this.ctx.job.pool;
      const places = new Set(
        this.ctx
          .credentials()
          .projects.filter((p) => p.enabled && (pool === undefined || p.pool === pool))
          .map((p) => `${p.project}/${p.location}`),
      ).size;
      const choice = autoModeChoice({ job: this.ctx.job, step: unit.step, items, request, catalog: this.ctx.catalog, places, batchMinItems: minItems });
      return choice?.chosen === 'online';
    } catch {
      // An item that cannot be rendered fails on its own path; the mode stays the batch's.
      return false;
    }
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
          hold: budget ? this.holds.hold(reservedUsd, intent !== undefined, undefined) : undefined,
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
}
