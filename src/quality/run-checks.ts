import type { StepCheck } from '../job/job.js';
import type { CheckVerdict } from './check-verdict.js';
import { checkImage, type ImageChecks } from './image-checks.js';
import { checkLanguage, loadLanguageDetector } from './language-check.js';
import { checkChars, checkContains, checkMatches, checkNotTruncated, checkWords } from './text-checks.js';

/** One output of a step, as the checks see it: the reply's text or JSON, its image file, why it stopped. */
export interface CheckedOutput {
  text?: string;
  json?: unknown;
  /** The step's (first) output file: an image step's image. */
  image?: string;
  finishReason?: string;
  truncated?: boolean;
}

/** What a judge looks at: a text (the reply or a field) or an image file. */
export interface JudgeSubject {
  text?: string;
  image?: string;
}

export type JudgeCheck = Extract<StepCheck, { check: 'judge' }>;

/** The engine's judge call (a model call through the run's limiters, cache, budget and ledger). */
export type Judge = (check: JudgeCheck, subject: JudgeSubject) => Promise<CheckVerdict>;

/** The text a check reads: the reply's, or one field of its JSON (a non-string field as JSON). */
function textOf(output: CheckedOutput, field: string | undefined): string {
  if (field === undefined) return output.text ?? '';
  const value = output.json !== null && typeof output.json === 'object' ? (output.json as Record<string, unknown>)[field] : undefined;
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function textCheck(check: StepCheck, output: CheckedOutput): CheckVerdict | undefined {
  const text = 'field' in check ? textOf(output, check.field) : textOf(output, undefined);
  switch (check.check) {
    case 'words':
      return checkWords(text, check);
    case 'chars':
      return checkChars(text, check);
    case 'contains':
    case 'not_contains':
    case 'icontains':
    case 'not_icontains':
      return checkContains(text, check.check, check.phrases);
    case 'matches':
    case 'not_matches':
      return checkMatches(text, check.check, check.pattern, check.source);
    case 'language':
      return checkLanguage(text, check.language);
    case 'not_truncated':
      return checkNotTruncated(output);
    default:
      return undefined;
  }
}

/** The image checks of a step, as one spec for checkImage (a later `size:` overrides an earlier one). */
function imageSpec(checks: readonly StepCheck[]): ImageChecks | undefined {
  const spec: ImageChecks = {};
  for (const c of checks) {
    if (c.check === 'size')
      spec.size = { minimum: c.minimum, ...(c.width === undefined ? {} : { width: c.width }), ...(c.height === undefined ? {} : { height: c.height }) };
    else if (c.check === 'not_blank') spec.not_blank = true;
    else if (c.check === 'aspect') spec.aspect = { width: c.width, height: c.height, tolerance: c.tolerance };
  }
  return Object.keys(spec).length > 0 ? spec : undefined;
}

/**
 * Applies a step's checks to one output, in the job file's order of kinds: the free checks (text,
 * image) first, then the judges, only when every free check passed: an output that will be
 * regenerated anyway is not paid a judge for.
 */
export async function runChecks(checks: readonly StepCheck[], output: CheckedOutput, judge?: Judge): Promise<CheckVerdict[]> {
  // The detector's data loads with the first language check, not with the CLI (cheap after the first call).
  if (checks.some((c) => c.check === 'language')) await loadLanguageDetector();
  const verdicts: CheckVerdict[] = [];
  for (const check of checks) {
    const verdict = textCheck(check, output);
    if (verdict) verdicts.push(verdict);
  }
  const spec = imageSpec(checks);
  if (spec) {
    if (output.image === undefined) verdicts.push(...Object.keys(spec).map((check) => ({ check, passed: false, reason: 'no image was written' })));
    else verdicts.push(...(await checkImage(output.image, spec)));
  }
  if (verdicts.some((v) => !v.passed)) return verdicts;
  for (const check of checks) {
    if (check.check !== 'judge') continue;
    if (!judge) throw new Error('A judge check needs a judge: the engine passes one.');
    const subject: JudgeSubject = output.image !== undefined && check.field === undefined ? { image: output.image } : { text: textOf(output, check.field) };
    verdicts.push(await judge(check, subject));
  }
  return verdicts;
}

/** The checks an output failed, in order (a check written twice is named once). */
export function failedChecks(verdicts: readonly CheckVerdict[]): string[] {
  return [...new Set(verdicts.filter((v) => !v.passed).map((v) => v.check))];
}

/** The results file's `<step>_checks`: `passed`, or the failed checks' names, plus the judge's score. */
export function checksSummary(verdicts: readonly CheckVerdict[]): string {
  const failed = failedChecks(verdicts);
  const scores = verdicts.filter((v) => v.check === 'judge' && v.score !== undefined).map((v) => `judge ${v.score}`);
  const head = failed.length === 0 ? 'passed' : failed.join(' ');
  return scores.length === 0 ? head : `${head} (${scores.join(', ')})`;
}

/** What `feedback: true` adds to the next attempt's prompt: each failed check and why. */
export function feedbackFor(verdicts: readonly CheckVerdict[]): string {
  const lines = verdicts.filter((v) => !v.passed).map((v) => `- ${v.check}: ${v.reason ?? 'failed'}`);
  return `\n\nAn earlier answer to this request failed these checks; write a new answer that passes them:\n${lines.join('\n')}`;
}
