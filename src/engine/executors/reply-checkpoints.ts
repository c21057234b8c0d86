import { ConfigError } from '../../errors/config-error.js';
import { OutputDiskFullError } from '../../errors/run-errors.js';
import { UndecodableImageError } from '../../errors/provider-errors.js';
import type { Step } from '../../job/job.js';
import { isDiskFull } from '../../outputs/held-replies.js';
import type { ProviderResult, Usage } from '../../providers/provider.js';
import { RetryPolicy } from '../../resilience/retry-policy.js';
import type { LedgerEntry } from '../../store/rows.js';
import type { RenderedStep } from '../render-step.js';
import { callEnded, callRecord } from './call-record.js';
import type { Unit } from '../unit.js';
import { heldRepliesDirFor } from '../paths.js';
import { MissingOutputBytesError, writeStepOutputs } from '../write-outputs.js';
import type { Verdict } from './step-executor.js';
import { ChecksFailedError, JudgeUnaffordableError, JudgeUnavailableError } from '../../errors/checks-failed-error.js';
import type { CheckVerdict } from '../../quality/check-verdict.js';
import { runChecks } from '../../quality/run-checks.js';
import type { CheckOutcome } from '../../store/rows.js';
import { checkedOutput, failedReasons, gateDecision } from '../check-gate.js';
import { keepReplacedOutputs } from '../replaced-attempts.js';

import type { ExecutionContext } from './execution-context.js';

/** A reply to checkpoint: the unit it answers, what it cost, where it came from. */
export interface Reply {
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

const RETRY_BASE_MS = 1000;
const RETRY_CAP_MS = 60_000;

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
 * How a reply is checkpointed, online or from a batch line: its outputs written and the step done
 * (with its call's ledger row), filtered, or failed; a write that fails keeps the paid reply (a
 * full disk stops the run, a write that may pass is retried from it), an image that does not
 * decode is retried with a new call.
 */
export abstract class ReplyCheckpoints {
  private readonly retryPolicies = new Map<string, RetryPolicy>();

  constructor(protected readonly ctx: ExecutionContext) {}

  protected retryPolicy(step: Step): RetryPolicy {
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

  protected ledgerEntry(
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
  protected emitCall(call: LedgerEntry, usage: Usage): void {
    this.ctx.emit('call:end', callEnded(call, usage));
  }

  /**
   * The disk for outputs is full: the paid reply is kept beside the state file and the unit goes
   * back to pending, so that a resume writes it without calling again; the run stops taking calls.
   * Undefined when the reply cannot be kept either (then the step fails as any write failure).
   */
  protected async hold(unit: Unit, result: ProviderResult, costUsd: number, call: LedgerEntry | undefined, error: unknown): Promise<Verdict | undefined> {
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
  protected async badImage(
    unit: Unit,
    rendered: RenderedStep,
    costUsd: number,
    call: LedgerEntry | undefined,
    project: string,
    model: string,
    error: UndecodableImageError,
  ): Promise<Verdict> {
    // A kept reply that does not decode is no use to the next attempt.
    this.ctx.held.release(unit.item.id, unit.step.name);
    const entry = call ? { ...call, errorCode: error.code } : undefined;
    return this.retryOrFail(unit, { rendered, costUsd, call: entry, project, model }, error.code, error.message, '');
  }

  /**
   * A billed reply that could not be used: the step goes back to pending for another attempt within
   * limits.max_attempts (its call booked), or, out of attempts, fails with `code`.
   */
  private async retryOrFail(
    unit: Unit,
    paid: { rendered: RenderedStep; costUsd: number; call: LedgerEntry | undefined; project: string; model: string },
    code: string,
    message: string,
    gaveUpNote: string,
  ): Promise<Verdict> {
    const { store, runId, emit } = this.ctx;
    const { item, step } = unit;
    const { rendered, costUsd, call, project, model } = paid;
    const attempts = unit.attempts + 1;
    const decision = this.retryPolicy(step).decide(attempts, undefined);
    const said = decision.retry ? message : `${message} (gave up after ${attempts} attempts${gaveUpNote})`;
    await store.commit(() => {
      if (decision.retry) {
        if (call) store.recordCall(call);
        store.markPending(item.id, step.name, { countAttempt: true, errorCode: code, errorMessage: said, costUsd, runId });
      } else {
        store.finishStep(item.id, step.name, 'failed', { code, message: said, promptHash: rendered.promptHash, costUsd, model }, call, runId);
      }
    });
    if (!decision.retry) {
      emit('step:failed', { itemId: item.id, step: step.name, code, message: said });
      return { kind: 'failed' };
    }
    unit.attempts = attempts;
    emit('step:retry', { itemId: item.id, step: step.name, project, code, message: said, attempt: attempts, delayMs: decision.delayMs });
    return { kind: 'retry', delayMs: decision.delayMs };
  }

  /**
   * Writing the outputs failed for a reason that may pass (the folder was replaced by a file, a
   * network share dropped, permissions changed): the paid reply is kept beside the state file, as on
   * a full disk, and the unit retries the write after a backoff, never the call (the next attempt
   * takes the kept reply). Within limits.max_attempts; undefined when out of attempts (the reply
   * stays kept) or when the reply cannot be kept either.
   */
  protected async retryWrite(
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
    if (step.checks && step.checks.length > 0) return this.checked(reply, outputs);
    return this.completed(reply, outputs);
  }

  /**
   * The step's checks on a written output (issue 28): done when they pass; else regenerated while
   * on_fail allows, then failed (CHECKS_FAILED), kept (marked) or kept and queued for review.
   */
  protected async checked(reply: Reply, outputs: string[]): Promise<Verdict> {
    const { unit, result } = reply;
    const { item, step } = unit;
    const judge = this.ctx.judge;
    let verdicts: CheckVerdict[];
    try {
      verdicts = await runChecks(
        step.checks ?? [],
        checkedOutput(this.ctx.job, step, result, outputs),
        judge && ((check, subject) => judge(unit, check, subject)),
      );
    } catch (error) {
      if (error instanceof JudgeUnaffordableError) return this.judgeUnaffordable(reply, error);
      if (error instanceof JudgeUnavailableError) return this.judgeUnavailable(reply, error);
      throw error;
    }
    const decision = gateDecision(step, unit, verdicts);
    this.ctx.emit('step:checks', { itemId: item.id, step: step.name, outcome: decision, verdicts, attempt: (unit.checkAttempts ?? 0) + 1 });
    if (decision === 'regenerate') return this.regenerate(reply, outputs, verdicts);
    if (decision === 'failed') return this.checksFailed(reply, verdicts);
    return this.completed(reply, outputs, { verdicts, outcome: decision });
  }

  /**
   * Another attempt after failed checks: the replaced output's files move aside (the review page's
   * "before"), and its row, its call and the count of regenerations are committed together before
   * the unit goes back to its lane, answered by a call (never the cache) with its seed moved on.
   */
  protected async regenerate(reply: Reply, outputs: string[], verdicts: CheckVerdict[]): Promise<Verdict> {
    const { store, runId, job } = this.ctx;
    const { unit, result, costUsd, call } = reply;
    const { item, step } = unit;
    const kept = await keepReplacedOutputs(job, item.id, step.name, (unit.checkDraws ?? 0) + 1, outputs);
    const finish = result.finishReason === undefined ? {} : { finishReason: result.finishReason };
    await store.commit(() =>
      store.regenerateStep(item.id, step.name, { result: stepResult(result, outputs), outputs: kept, checks: verdicts, costUsd, ...finish }, call, runId),
    );
    this.ctx.held.release(item.id, step.name);
    unit.checkAttempts = (unit.checkAttempts ?? 0) + 1;
    unit.checkDraws = (unit.checkDraws ?? 0) + 1;
    unit.lastChecks = verdicts;
    unit.noCache = true;
    return { kind: 'retry', delayMs: 0 };
  }

  /** Out of regenerations and `then: fail`: the step fails CHECKS_FAILED (the reaction table's), its verdicts kept. */
  protected async checksFailed(reply: Reply, verdicts: CheckVerdict[]): Promise<Verdict> {
    const { store, emit, runId } = this.ctx;
    const { unit, rendered, result, costUsd, call, model } = reply;
    const { item, step } = unit;
    this.ctx.held.release(item.id, step.name);
    const made = unit.checkAttempts ?? 0;
    const error = new ChecksFailedError(`failed checks${made > 0 ? ` after ${made} regeneration(s)` : ''}: ${failedReasons(verdicts)}`);
    const finish = result.finishReason === undefined ? {} : { finishReason: result.finishReason };
    await store.commit(() => {
      store.finishStep(
        item.id,
        step.name,
        'failed',
        { code: error.code, message: error.message, promptHash: rendered.promptHash, costUsd, model, ...finish },
        call,
        runId,
      );
      store.setChecks(item.id, step.name, verdicts, 'failed');
    });
    emit('step:failed', { itemId: item.id, step: step.name, code: error.code, message: error.message, ...finish });
    return { kind: 'failed' };
  }

  /**
   * The budget cannot hold a judge's call: the paid reply is kept beside the state file and the step
   * goes back to pending (no attempt used); the run stops for the budget, and a resume judges the kept reply.
   */
  protected async judgeUnaffordable(reply: Reply, error: JudgeUnaffordableError): Promise<Verdict> {
    const { store, held, runId } = this.ctx;
    const { unit, result, costUsd, call } = reply;
    await held.keep(unit.item.id, unit.step.name, result).catch(() => undefined);
    await store.commit(() => {
      if (call) store.recordCall(call);
      store.markPending(unit.item.id, unit.step.name, { countAttempt: false, errorCode: error.code, errorMessage: error.message, costUsd, runId });
    });
    this.ctx.onBudgetRefused?.(error.worstCaseUsd);
    return { kind: 'released' };
  }

  /**
   * A judge gave no verdict: the paid reply is kept beside the state file and the step retried within
   * limits.max_attempts; the next attempt takes the kept reply and judges it again (no new call for
   * the output). Out of attempts, the step fails JUDGE_UNAVAILABLE with the reply still kept, so
   * `retry --failed` judges it later.
   */
  protected async judgeUnavailable(reply: Reply, error: JudgeUnavailableError): Promise<Verdict> {
    const { unit, result } = reply;
    await this.ctx.held.keep(unit.item.id, unit.step.name, result).catch(() => undefined);
    return this.retryOrFail(unit, reply, error.code, error.message, '; the output is kept');
  }

  /** The reply was filtered for safety: the step ends `filtered`, its call booked. */
  protected async filtered(reply: Reply, reason: string): Promise<Verdict> {
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
  protected async writeFailed(reply: Reply, error: unknown): Promise<Verdict> {
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
  protected async completed(reply: Reply, outputs: string[], checks?: { verdicts: CheckVerdict[]; outcome: CheckOutcome }): Promise<Verdict> {
    const { store, emit } = this.ctx;
    const { unit, rendered, result, costUsd, durationMs, project, call, model, cache } = reply;
    const { item, step } = unit;
    this.ctx.held.release(item.id, step.name);
    const result_ = stepResult(result, outputs);
    const finish = result.finishReason === undefined ? {} : { finishReason: result.finishReason };
    const truncated = result.truncated === true ? { truncated: true } : {};
    // The step and its call's ledger row, in the next group commit; the unit moves on once it is durable.
    await store.commit(() => {
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
      );
      if (checks) store.setChecks(item.id, step.name, checks.verdicts, checks.outcome);
    });
    unit.context.steps[step.name] = result_;
    // A paid answer is kept for the next identical request (the cache never fails a run: errors only turn it off);
    // one that failed its checks (kept or queued for review) is not served to another request.
    const passed = !checks || checks.outcome === 'passed' || checks.outcome === 'regenerated';
    if (cache && !cache.hit && passed) await this.ctx.cache?.put(cache.key, result, { model, task: step.task });
    emit('step:done', { itemId: item.id, step: step.name, project, costUsd, durationMs, outputs, ...finish, ...truncated });
    return { kind: 'done' };
  }
}
