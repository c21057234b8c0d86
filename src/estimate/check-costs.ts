import type { Step } from '../job/job.js';
import { emptyUsage } from '../providers/provider.js';
import type { PriceCatalog } from './price-catalog.js';
import { rangeOf, type Range, type StepEstimate } from './step-estimate.js';

/**
 * What a step's checks add to its estimate before anything is measured (issue 28): the expected
 * regenerations and the judges' calls. A pilot (or earlier runs) measures both instead: the ledger's
 * cost per finished item holds every regeneration and every `<step>.judge` call.
 *
 * The stated assumption: a share ASSUMED_FAILURE_RATE of outputs fails its checks (low: none, high:
 * HIGH_FAILURE_RATE), each regeneration independently, so an item takes 1 + p + ... + p^N attempts.
 */
export const ASSUMED_FAILURE_RATE = 0.2;
const HIGH_FAILURE_RATE = 0.5;

/** Tokens of the judge's instructions and rubric around what it judges, and of its `{ score, reason }` reply. */
const JUDGE_FRAME_TOKENS = 120;
const JUDGE_REPLY_TOKENS = 60;
/** Gemini bills an input image as 258 tokens. */
const IMAGE_TOKENS = 258;

/** Attempts per item when each fails with probability `p` and at most `regenerate` more are made. */
export function attemptsPerItem(p: number, regenerate: number): number {
  let attempts = 0;
  for (let k = 0; k <= regenerate; k += 1) attempts += p ** k;
  return attempts;
}

/** One judge call on one output: the rubric, the input row and the output (text tokens, or an image). */
function judgeCallUsd(step: Step, model: string, rubricTokens: number, rowTokens: number, outputTokens: number, catalog: PriceCatalog): number {
  const judged = step.task === 'image' ? IMAGE_TOKENS : outputTokens;
  return catalog.cost(model, { ...emptyUsage(), inputTokens: JUDGE_FRAME_TOKENS + rubricTokens + rowTokens + judged, outputTokens: JUDGE_REPLY_TOKENS });
}

/**
 * A step estimate with its checks' costs: the step's cost times the attempts per item, plus a call
 * of each judge per attempt. Unchanged for a step without checks, or one whose cost was measured.
 */
export function withCheckCosts(estimate: StepEstimate, step: Step, perItemInput: number, catalog: PriceCatalog): StepEstimate {
  if (!step.checks?.length || estimate.basis === 'pilot' || estimate.items === 0) return estimate;
  const regenerate = step.onFail?.regenerate ?? 0;
  const attempts = [1, attemptsPerItem(ASSUMED_FAILURE_RATE, regenerate), attemptsPerItem(HIGH_FAILURE_RATE, regenerate)] as const;
  const perItemOutput = [estimate.output_tokens.low, estimate.output_tokens.expected, estimate.output_tokens.high].map((t) => t / estimate.items);
  const judgeUsd = [0, 1, 2].map((i) =>
    step.checks!.reduce(
      (sum, c) => (c.check === 'judge' ? sum + judgeCallUsd(step, c.model, Math.ceil(c.rubric.length / 4), perItemInput, perItemOutput[i] ?? 0, catalog) : sum),
      0,
    ),
  );
  const total = (i: 0 | 1 | 2, usd: number): number => (usd + (judgeUsd[i] ?? 0) * estimate.items) * attempts[i];
  const judges: Range = rangeOf(
    (judgeUsd[0] ?? 0) * estimate.items * attempts[0],
    (judgeUsd[1] ?? 0) * estimate.items * attempts[1],
    (judgeUsd[2] ?? 0) * estimate.items * attempts[2],
  );
  return {
    ...estimate,
    usd: rangeOf(total(0, estimate.usd.low), total(1, estimate.usd.expected), total(2, estimate.usd.high)),
    checks: { assumed_failure_rate: ASSUMED_FAILURE_RATE, attempts_per_item: Math.round(attempts[1] * 1000) / 1000, judge_usd: judges },
  };
}
