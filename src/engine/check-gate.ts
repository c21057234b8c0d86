import { resolve } from 'node:path';
import type { Job, OnFail, Step } from '../job/job.js';
import type { ProviderResult } from '../providers/provider.js';
import type { CheckVerdict } from '../quality/check-verdict.js';
import { feedbackFor, type CheckedOutput } from '../quality/run-checks.js';
import type { CheckOutcome } from '../store/rows.js';
import type { Unit } from './unit.js';

/** A step with checks and no `on_fail:` fails an output at once. */
export const NO_REGENERATION: OnFail = { regenerate: 0, feedback: false, then: 'fail' };

/** What the gate does with a checked output: one of the stored outcomes, or another attempt. */
export type GateDecision = CheckOutcome | 'regenerate';

/**
 * The gate's decision for an output's verdicts: passed (after regenerating, `regenerated`); failed
 * with regenerations left: `regenerate`; else the step's `then` (fail, keep, review). The count of
 * regenerations comes from the state file, so a resumed run never makes more than N.
 */
export function gateDecision(step: Step, unit: Unit, verdicts: readonly CheckVerdict[]): GateDecision {
  const made = unit.checkAttempts ?? 0;
  if (verdicts.every((v) => v.passed)) return made > 0 ? 'regenerated' : 'passed';
  const onFail = step.onFail ?? NO_REGENERATION;
  if (made < onFail.regenerate) return 'regenerate';
  return onFail.then === 'keep' ? 'kept' : onFail.then === 'fail' ? 'failed' : 'review';
}

/** The prompt of a regenerated attempt with `feedback: true`: the failed checks and why, after the step's prompt. */
export function withFeedback(step: Step, unit: Unit, prompt: string): { prompt?: string } {
  if (!step.onFail?.feedback || !unit.lastChecks?.some((v) => !v.passed)) return {};
  return { prompt: prompt + feedbackFor(unit.lastChecks) };
}

/** An output as the checks see it: the reply's text or JSON; an image step's first image as an absolute path. */
export function checkedOutput(job: Job, step: Step, result: ProviderResult, outputs: readonly string[]): CheckedOutput {
  const first = step.task === 'image' ? outputs[0] : undefined;
  return {
    ...(result.text === undefined ? {} : { text: result.text }),
    ...(result.json === undefined ? {} : { json: result.json }),
    ...(first === undefined ? {} : { image: resolve(job.outputDir, first) }),
    ...(result.finishReason === undefined ? {} : { finishReason: result.finishReason }),
    ...(result.truncated === undefined ? {} : { truncated: result.truncated }),
  };
}

/** The reasons of the failed checks, as one line (the step's error message, the run log). */
export function failedReasons(verdicts: readonly CheckVerdict[]): string {
  return verdicts
    .filter((v) => !v.passed)
    .map((v) => `${v.check}: ${v.reason ?? 'failed'}`)
    .join('; ');
}
