import { videoWithAudio } from '../../providers/veo-limits.js';
import type { GenbatchError } from '../../errors/genbatch-error.js';
import { BadResponseError, OutcomeUnknownError, ProviderError, QuotaExhaustedError, TransientError } from '../../errors/provider-errors.js';
import type { WindowOutcome } from '../../resilience/adaptive-window.js';
import { sharedCapacityDelay } from '../../resilience/quota-kind.js';
import { emptyUsage, type Usage } from '../../providers/provider.js';
import type { LedgerEntry } from '../../store/rows.js';
import { reactionTo, SHARED_CAPACITY_REACTION, type Reaction } from '../error-reactions.js';
import type { Unit } from '../unit.js';
import type { PreparedCall, Settled, Settlement } from './step-executor.js';
import { steadyNow, toWall } from '../../resilience/steady-clock.js';

import { ReplyCheckpoints } from './reply-checkpoints.js';

/** A failed call, as the reaction table reads it (failureOf). */
export interface CallFailure {
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
export type FailureDecision = ({ retry: true; delayMs: number } | { retry: false }) & { attempts: number; refusals: number; message: string };

/**
 * How a failed call is settled through the reaction table (src/engine/error-reactions.ts): what it
 * cost, what it says of its project (a cooldown, an outage, a model it cannot serve, a credential
 * rejected), whether its units are requeued, retried after a backoff, or fail.
 */
export abstract class CallFailures extends ReplyCheckpoints {
  /** Refusals by shared capacity per unit: the exponent of its next backoff (no attempt is used). */
  private readonly capacityRefusals = new WeakMap<Unit, number>();

  /** What a failed call tells the shared-capacity window: refused by shared capacity, timed out, or nothing. */
  protected windowOutcome(project: string, model: string, error: GenbatchError): WindowOutcome {
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
  protected async settleFailure(call: PreparedCall, error: GenbatchError, project: string, durationMs: number, keepOperation = false): Promise<Settlement> {
    const failure = this.failureOf(call, error, project, durationMs, keepOperation);
    this.reactOnProject(failure);
    const decision = this.decide(failure);
    await this.commitFailure(failure, decision);
    this.emitCall(failure.ledger, failure.usage);
    return { settled: this.failureVerdicts(failure, decision), spentUsd: failure.unknown ? call.worstCaseUsd : failure.cost };
  }

  /** What a failed call was: its reaction, what it cost, its ledger row. */
  protected failureOf(call: PreparedCall, error: GenbatchError, project: string, durationMs: number, keepOperation: boolean): CallFailure {
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
  protected reactOnProject(f: CallFailure): void {
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
  protected decide(f: CallFailure): FailureDecision {
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
  protected async commitFailure(f: CallFailure, decision: FailureDecision): Promise<void> {
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
  protected failureVerdicts(f: CallFailure, decision: FailureDecision): Settled[] {
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
}
