import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { cacheKeyOf } from '../cache/response-cache.js';
import { RETRY_LATER } from '../estimate/budget.js';
import { worstCaseCost, thinkingBudgetOf } from '../estimate/step-usage.js';
import { heuristicTokens } from '../estimate/token-counter.js';
import { JudgeUnaffordableError, JudgeUnavailableError } from '../errors/checks-failed-error.js';
import { OutcomeUnknownError } from '../errors/provider-errors.js';
import type { Step } from '../job/job.js';
import { emptyUsage, type ProviderRequest, type ProviderResult } from '../providers/provider.js';
import { providerFor } from '../providers/provider-registry.js';
import type { CheckVerdict } from '../quality/check-verdict.js';
import type { JudgeCheck, JudgeSubject } from '../quality/run-checks.js';
import { classifyError } from '../resilience/classify-error.js';
import { steadyNow } from '../resilience/steady-clock.js';
import { CACHE_LEDGER_PROJECT } from '../store/rows.js';
import type { BudgetHolds } from './budget-hold.js';
import { callEnded, callRecord } from './executors/call-record.js';
import type { ExecutionContext } from './executors/execution-context.js';
import type { Unit } from './unit.js';

/** The judge's reply: a score on a 1-5 scale and one sentence why (responseSchema). */
export const JUDGE_SCHEMA = {
  type: 'object',
  properties: { score: { type: 'integer', minimum: 1, maximum: 5 }, reason: { type: 'string' } },
  required: ['score', 'reason'],
};

/** Calls of one judge that fail (429, 5xx, network) before its check fails with why. */
const JUDGE_TRIES = 4;
/** A judge's reply is short: its output is bounded so its worst case (held against the budget) is small. */
const JUDGE_MAX_OUTPUT_TOKENS = 1024;
/** Wait between looks for a project that can take the judge's call. */
const LEASE_WAIT_MS = 200;

/** The ledger's step of a step's judge calls: `genbatch cost` shows them on a line of their own. */
export function judgeLedgerStep(step: string): string {
  return `${step}.judge`;
}

/** The step a judge's call is priced and rendered as: a short JSON text call of the judge's model. */
export function judgeStep(step: Step, check: JudgeCheck): Step {
  return {
    name: judgeLedgerStep(step.name),
    task: 'text',
    model: check.model,
    prompt: check.rubric,
    jsonSchema: JUDGE_SCHEMA,
    maxOutputTokens: JUDGE_MAX_OUTPUT_TOKENS,
    params: {},
    maxAttempts: JUDGE_TRIES,
    timeoutMs: step.timeoutMs,
    ...(step.pool === undefined ? {} : { pool: step.pool }),
  };
}

/** What the judge reads: the rubric, the item's input row, and the output (text here; an image is attached). */
export function judgePrompt(check: JudgeCheck, row: Record<string, string>, subject: JudgeSubject): string {
  return [
    'You are a strict reviewer of generated content. Score the output against the rubric, from 1 (fails it) to 5 (fully meets it), and say why in one sentence.',
    `Rubric: ${check.rubric}`,
    `The input row the output was made from (JSON): ${JSON.stringify(row)}`,
    subject.text === undefined ? 'The output is the attached image.' : `The output:\n${subject.text}`,
  ].join('\n\n');
}

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), done()), { once: true });
  });
}

/**
 * `judge:` checks: one model call per judged output, with the rubric, the input row and the output
 * (text, or the image as inline data), whose reply is `{ score, reason }` JSON. Each call goes the
 * way a step's call does: the response cache, a budget hold of its worst case, a project lease for
 * the judge's model (limiters and quotas), and a ledger row (intent first) under `<step>.judge`.
 */
export class JudgeCalls {
  constructor(private readonly ctx: ExecutionContext & { holds: BudgetHolds; signal: AbortSignal }) {}

  readonly judge = async (unit: Unit, check: JudgeCheck, subject: JudgeSubject): Promise<CheckVerdict> => {
    const step = judgeStep(unit.step, check);
    const image = subject.image === undefined ? undefined : await readFile(subject.image);
    const request: ProviderRequest = {
      task: 'text',
      model: check.model,
      prompt: judgePrompt(check, unit.item.values, subject),
      jsonSchema: JUDGE_SCHEMA,
      maxOutputTokens: JUDGE_MAX_OUTPUT_TOKENS,
      thinkingBudget: thinkingBudgetOf(step, this.ctx.catalog),
      params: step.params,
      timeoutMs: step.timeoutMs,
      ...(image && subject.image ? { images: [{ mimeType: MIME[extname(subject.image).toLowerCase()] ?? 'image/png', data: image }] } : {}),
    };
    // The key of the text and of the image's bytes (the cache key has no member for media).
    const key = cacheKeyOf(image ? { ...request, prompt: `${request.prompt}\n[image sha256 ${createHash('sha256').update(image).digest('hex')}]` } : request);
    const cached = await this.ctx.cache?.get(key);
    if (cached) {
      await this.book(unit, step, CACHE_LEDGER_PROJECT, cached, 0, 0, undefined, true);
      return verdictOf(cached, check);
    }
    const result = await this.call(unit, step, request);
    // No verdict is not a failed check: regenerating would pay again for an output nobody judged.
    if (typeof result === 'string') throw new JudgeUnavailableError(result);
    await this.ctx.cache?.put(key, result, { model: check.model, task: 'text' });
    return verdictOf(result, check);
  };

  /** The call, held, leased and booked; a few tries on failures; a string says why no verdict came. */
  private async call(unit: Unit, step: Step, request: ProviderRequest): Promise<ProviderResult | string> {
    const { holds, pool, signal, store, runId, catalog } = this.ctx;
    const worstCaseUsd = worstCaseCost(step, heuristicTokens(request.prompt) + (request.images?.length ?? 0) * 258, catalog);
    let why = 'no project could take the call';
    for (let attempt = 0; attempt < JUDGE_TRIES && !signal.aborted; attempt += 1) {
      const hold = await holds.reserve(worstCaseUsd);
      if (hold === undefined) throw new JudgeUnaffordableError(worstCaseUsd);
      if (hold === RETRY_LATER) {
        await sleep(1000, signal);
        continue;
      }
      const lease = await this.lease(step, request, signal);
      if (!lease) {
        hold.settle(0);
        break;
      }
      hold.project = lease.project.name;
      const ledgerId = await store.commit(() =>
        store.openCall({ runId, itemId: unit.item.id, step: step.name, project: lease.project.name, model: step.model, reservedUsd: worstCaseUsd }),
      );
      const t0 = steadyNow();
      try {
        const result = await (this.ctx.providers ?? providerFor)('text', step.model).call(lease.client, request);
        lease.release(result.usage.inputTokens + result.usage.outputTokens, 'success');
        const costUsd = catalog.cost(step.model, result.usage, { api: lease.project.api ?? 'vertex' });
        pool.succeeded(lease.project.name, step.model, costUsd);
        hold.settle(costUsd);
        await this.book(unit, step, lease.project.name, result, costUsd, steadyNow() - t0, ledgerId, false);
        return result;
      } catch (raw) {
        const error = classifyError(raw);
        lease.release();
        // A call whose outcome is unknown may have been billed: it stays at its worst case.
        const spent = error instanceof OutcomeUnknownError ? worstCaseUsd : 0;
        hold.settle(spent);
        const usage = (error as { usage?: ProviderResult['usage'] }).usage ?? emptyUsage();
        const entry = callRecord({
          id: ledgerId,
          runId,
          itemId: unit.item.id,
          step: step.name,
          project: lease.project.name,
          model: step.model,
          httpStatus: (error as { httpStatus?: number }).httpStatus ?? 0,
          errorCode: error.code,
          usage,
          costUsd: spent,
          durationMs: steadyNow() - t0,
        });
        await store.commit(() => store.recordCall(entry));
        this.ctx.emit('call:end', callEnded(entry, usage));
        why = `${error.code}: ${error.message}`;
        await sleep(500 * 2 ** attempt, signal);
      }
    }
    return `the judge (${step.model}) gave no verdict: ${why}`;
  }

  /** A project lease for the judge's model, waiting while none is ready (up to the job's max_stall). */
  private async lease(step: Step, request: ProviderRequest, signal: AbortSignal): Promise<Awaited<ReturnType<ExecutionContext['pool']['acquire']>>> {
    const until = steadyNow() + this.ctx.job.limits.maxStallMs;
    while (!signal.aborted && steadyNow() < until) {
      const lease = await this.ctx.pool.acquire(step.model, step.pool ?? this.ctx.job.pool, signal, heuristicTokens(request.prompt) + JUDGE_MAX_OUTPUT_TOKENS);
      if (lease) return lease;
      await sleep(LEASE_WAIT_MS, signal);
    }
    return undefined;
  }

  /** The judge's ledger row (settling its intent row), and the call as logs and metrics count it. */
  private async book(
    unit: Unit,
    step: Step,
    project: string,
    result: ProviderResult,
    costUsd: number,
    durationMs: number,
    id: number | undefined,
    cached: boolean,
  ): Promise<void> {
    const { store, runId } = this.ctx;
    const usage = cached ? emptyUsage() : result.usage;
    const entry = {
      ...callRecord({ id, runId, itemId: unit.item.id, step: step.name, project, model: step.model, httpStatus: 200, usage, costUsd, durationMs }),
      ...(cached ? { cached: true } : {}),
    };
    await store.commit(() => store.recordCall(entry));
    if (!cached) this.ctx.emit('call:end', callEnded(entry, usage));
  }
}

/** The verdict of a judge's reply: its score against min_score, with its reason. */
function verdictOf(result: ProviderResult, check: JudgeCheck): CheckVerdict {
  const reply = (result.json ?? {}) as { score?: unknown; reason?: unknown };
  const score = typeof reply.score === 'number' ? reply.score : Number.NaN;
  const reason = typeof reply.reason === 'string' ? reply.reason : '';
  if (Number.isNaN(score)) return { check: 'judge', passed: false, reason: 'the judge replied without a score' };
  return score >= check.minScore
    ? { check: 'judge', passed: true, score, ...(reason ? { reason } : {}) }
    : { check: 'judge', passed: false, score, reason: `scored ${score}, at least ${check.minScore} needed${reason ? `: ${reason}` : ''}` };
}
