import type { ProjectCredentials } from '../../credentials/credentials.js';
import type { BatchStepStoppedError } from '../../errors/batch-step-stopped-error.js';
import { emptyUsage, type ProviderResult, type Usage } from '../../providers/provider.js';
import type { LedgerEntry } from '../../store/rows.js';
import type { Unit } from '../unit.js';
import { VertexBatchService, type BatchService } from './batch-service.js';
import type { Settled } from './step-executor.js';
import { Wake } from '../wake.js';
import { BudgetHolds } from '../budget-hold.js';
import { callEnded, callRecord } from './call-record.js';
import { stagingError, type BatchContext, type Member, type Tracked } from './batch-job.js';

/**
 * The book of the batch jobs a run follows: their units, and how each is settled (a line answered
 * or failed, units released or failed with the job, a step stopped), with its ledger row and budget
 * hold. Collecting (batch-collect.ts), submitting (batch-submit.ts) and the executor build on it.
 */
/** What one output line came to: its unit's verdict and what Vertex billed for it (its member's hold is settled from it). */
export interface LineSettlement {
  settled: Settled;
  spentUsd: number;
}

export abstract class BatchBook {
  readonly wake = new Wake();
  protected readonly service: BatchService;
  /** Units settled since the scheduler's last turn (by a batch job, or a submission that failed). */
  protected settled: Settled[] = [];
  /** An error no reaction covers (a state conflict, a bug), for the scheduler's next turn: the run stops. */
  protected failed: unknown;
  /** Finding an earlier run's batch jobs: units settled meanwhile were never handed to the scheduler. */
  protected resuming = false;
  protected readonly buffers = new Map<string, Unit[]>();
  protected readonly tracked = new Map<string, Tracked>();
  /** Batch steps stopped for this run, with why: their units are released, none is submitted. */
  protected readonly stopped = new Map<string, BatchStepStoppedError>();
  /** The members' budget holds (settled from what each line cost). */
  protected readonly holds: BudgetHolds;
  /** Nothing more fits under the budget until a reservation is settled. */
  protected budgetBlocked = false;

  constructor(protected readonly ctx: BatchContext) {
    this.service = ctx.service ?? new VertexBatchService();
    this.holds = new BudgetHolds(ctx.budget);
  }

  /**
   * Stops a batch step for the rest of this run: its gathered units go back to pending, and units
   * that reach it later too. Its batch jobs already at Vertex are still followed and collected.
   */
  protected stopStep(error: BatchStepStoppedError): void {
    if (this.stopped.has(error.step)) return;
    this.stopped.set(error.step, error);
    const buffer = this.buffers.get(error.step) ?? [];
    this.buffers.set(error.step, []);
    this.ctx.emit('batch:stopped', { step: error.step, code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) });
    this.ctx.onStepStopped?.(error);
    if (buffer.length > 0) this.hand(buffer.map((unit) => ({ unit, verdict: { kind: 'released' } })));
  }

  /** Units settled: handed to the scheduler at its next turn. */
  protected hand(settled: Settled[]): void {
    if (this.resuming) return;
    this.settled.push(...settled);
    this.wake.notify();
  }

  protected project(name: string): ProjectCredentials | undefined {
    return this.ctx.credentials().projects.find((p) => p.name === name);
  }

  /**
   * The job's output could not be read: it stays unsettled in the state (its units running in it,
   * their ledger intent rows open), so the next run reads it again; the step stops for this run.
   */
  protected unread(t: Tracked, raw: unknown): Settled[] {
    const members = [...t.members.values()];
    t.members.clear();
    for (const m of members) m.hold?.settle(0);
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

  protected ledgerEntry(t: Tracked, m: Member, httpStatus: number, usage: Usage, costUsd: number, durationMs: number, errorCode?: string): LedgerEntry {
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

  /** A line answered: checkpointed like an online reply. Its settlement says what it cost, for its member's hold. */
  protected async lineAnswered(t: Tracked, m: Member, result: ProviderResult, durationMs: number): Promise<LineSettlement> {
    const costUsd = this.ctx.catalog.batchCost(t.step.model, result.usage);
    const entry = this.ledgerEntry(t, m, 200, result.usage, costUsd, durationMs);
    this.ctx.emit('call:end', callEnded(entry, result.usage));
    t.members.delete(m.unit.item.id);
    const verdict = await this.ctx.online.checkpoint(m.unit, m.rendered, result, costUsd, durationMs, t.project, entry);
    return { settled: { unit: m.unit, verdict }, spentUsd: costUsd };
  }

  /** A line that failed: retried in the next batch job while attempts are left, else the step fails. */
  protected async lineFailed(
    t: Tracked,
    m: Member,
    code: string,
    message: string,
    httpStatus: number,
    usage: Usage | undefined,
    durationMs: number,
    /** The line's reply: its finish reason, and `final` when another attempt would be cut the same way (TRUNCATED). */
    reply: { finishReason?: string; final?: boolean } = {},
  ): Promise<LineSettlement> {
    const { store, runId, emit } = this.ctx;
    const finishReason = reply.finishReason === undefined ? {} : { finishReason: reply.finishReason };
    const costUsd = usage ? this.ctx.catalog.batchCost(t.step.model, usage) : 0;
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
      return { settled: { unit, verdict: { kind: 'retry', delayMs: 0 } }, spentUsd: costUsd };
    }
    emit('step:failed', { itemId: unit.item.id, step: t.step.name, code, message });
    return { settled: { unit, verdict: { kind: 'failed' } }, spentUsd: costUsd };
  }

  /** Every unit of a job that never ran back to pending (its ledger intent rows settled at nothing). */
  protected async release(t: Tracked, reason: string, countAttempt: boolean, code: string, retryAfterMs?: number): Promise<Settled[]> {
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
  protected async releaseMembers(
    t: Tracked,
    members: Member[],
    reason: string,
    countAttempt: boolean,
    code: string,
    retryAfterMs?: number,
  ): Promise<Settled[]> {
    const { store, runId } = this.ctx;
    for (const m of members) m.hold?.settle(0);
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
  protected async failAll(t: Tracked, message: string): Promise<Settled[]> {
    const { store, runId, emit } = this.ctx;
    const members = [...t.members.values()];
    t.members.clear();
    for (const m of members) m.hold?.settle(0);
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
