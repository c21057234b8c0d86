import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import pLimit from 'p-limit';
import { renderStep } from '../engine/render-step.js';
import { buildStatus, type StatusReport } from '../engine/status.js';
import type { Job, Step } from '../job/job.js';
import { checkAttemptsRoot } from '../engine/replaced-attempts.js';
import { replacedFile } from '../library/replaced-outputs.js';
import { TemplateValueMissing, type TemplateContext } from '../job/template.js';
import type { ReviewReadModel } from '../store/interfaces/review-read-model.js';
import type { StatusReadModel } from '../store/interfaces/status-read-model.js';
import type { CheckAttempt, ItemStepRow } from '../store/rows.js';
import type { StepState } from '../store/step-state.js';
import type { CheckVerdict } from '../quality/check-verdict.js';
import { makeThumbnail, outputKind, type OutputKind, type Thumbnail } from './thumbnail.js';

export interface ReviewOutput {
  /** As stored: relative to the job's output folder. */
  path: string;
  absolute: string;
  kind: OutputKind;
  /** Images only. */
  thumbnail?: Thumbnail;
}

export interface ReviewStep {
  name: string;
  task: Step['task'];
  /** The model that produced the output: the step's own, or one of its fallbacks. */
  model: string;
  /** The output came from the response cache (no call). */
  cached?: boolean;
  state: StepState;
  attempts: number;
  project: string | null;
  costUsd: number;
  /** The prompt as the job file renders it now for this item; `promptChanged` when that differs from what was sent. */
  prompt?: string;
  /** Why the prompt cannot be rendered now (a template value missing for this item). */
  promptProblem?: string;
  promptChanged: boolean;
  /** Structured output: the step's JSON fields. */
  fields: Record<string, unknown>;
  /** Plain text output (text steps without `json:`). */
  text?: string;
  outputs: ReviewOutput[];
  error?: { code: string; message: string };
  rejected?: { note: string | null; at: string };
  /** Why the model stopped on the last reply, when it was not STOP (MAX_TOKENS, SAFETY, RECITATION, OTHER…). */
  finishReason?: string;
  /** Done with a reply cut at max_output_tokens (`on_truncated: keep`). */
  truncated?: boolean;
  /** The output a regenerate replaced, kept until the reviewer keeps the new one or the old one (the "before"). */
  replaced?: { fields: Record<string, unknown>; text?: string; outputs: ReviewOutput[]; replacedAt: string };
  /** The verdicts of the step's checks on its output (issue 28); absent for a step without checks. */
  checks?: CheckVerdict[];
  /** What the checks came to: passed, regenerated, kept, review (queued for a person), failed. */
  checkOutcome?: string;
  /** The outputs regenerations replaced after they failed their checks, oldest first (the "before"s). */
  checkAttempts?: ReviewCheckAttempt[];
}

/** An output a regeneration replaced after it failed its checks. */
export interface ReviewCheckAttempt {
  attempt: number;
  fields: Record<string, unknown>;
  text?: string;
  /** Its files, kept aside under `<state file>.checks/` (a file that could not be kept is left out). */
  outputs: ReviewOutput[];
  checks: CheckVerdict[];
  costUsd: number;
  at: string;
}

/** The outputs regenerations replaced (the store's check_attempts); optional, as a read model without it has none. */
export interface CheckAttemptsReadModel {
  checkAttempts?(itemId: string, step: string): CheckAttempt[];
}

export interface ReviewItem {
  id: string;
  ord: number;
  line: number | null;
  values: Record<string, string>;
  /** Per item, as status counts it: failed, filtered, running, done (every step), else pending. */
  state: StepState;
  rejected: boolean;
  /** A step kept a reply cut at max_output_tokens. */
  truncated: boolean;
  /** A step's output fails a check now, or was regenerated after failing one (the "failed checks" filter). */
  failedChecks: boolean;
  costUsd: number;
  /** The first `alt_text` field of any step, used as the thumbnails' alt text. */
  altText?: string;
  steps: ReviewStep[];
}

export interface ReviewData {
  job: string;
  jobFile: string;
  generatedAt: string;
  status: StatusReport;
  rejectedItems: number;
  items: ReviewItem[];
}

function itemState(states: StepState[]): StepState {
  if (states.includes('failed')) return 'failed';
  if (states.includes('filtered')) return 'filtered';
  if (states.includes('running')) return 'running';
  if (states.length > 0 && states.every((s) => s === 'done')) return 'done';
  return 'pending';
}

/** Shows where a field of a step that has not run would go, instead of failing the render. */
function placeholder(step: string): Record<string, unknown> {
  return new Proxy({}, { get: (_target, field) => (typeof field === 'string' ? `⟨steps.${step}.${field}⟩` : undefined) });
}

const RESULT_KEYS = new Set(['text', 'file', 'files']);

function insideOutputDir(outputDir: string, path: string): string | undefined {
  const absolute = resolve(outputDir, path);
  const rel = relative(outputDir, absolute);
  return rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? undefined : absolute;
}

/**
 * Everything the review page shows, read from the state file: every item in input order with each
 * step's state, cost, prompt, structured fields, outputs (with thumbnails), errors and rejections.
 */
export async function collectReview(
  job: Job,
  store: ReviewReadModel & StatusReadModel & CheckAttemptsReadModel,
  options: { thumbnails?: boolean; concurrency?: number } = {},
): Promise<ReviewData> {
  const status = buildStatus(job, store, { maxFailures: 0 });
  const rows = new Map<string, ItemStepRow[]>();
  for (const row of store.allItemSteps()) {
    const list = rows.get(row.itemId);
    if (list) list.push(row);
    else rows.set(row.itemId, [row]);
  }
  const rejections = new Map(store.rejectedSteps().map((r) => [`${r.itemId}\u0000${r.step}`, r]));
  const replacedSteps = new Map(store.undecidedReplaced().map((r) => [`${r.itemId}\u0000${r.step}`, r]));
  const limit = pLimit(options.concurrency ?? 4);
  const thumbnails: Promise<void>[] = [];
  const items: ReviewItem[] = [];

  // Read whole first: the loop queries the store (check attempts), which SQLite refuses while a read streams.
  for (const item of [...store.iterateItems()]) {
    const stepRows = rows.get(item.id) ?? [];
    const context: TemplateContext = { columns: item.values, steps: {}, styles: job.styles };
    const steps: ReviewStep[] = [];
    let altText: string | undefined;
    for (const step of job.steps) {
      const row = stepRows.find((r) => r.step === step.name);
      if (!row) continue;
      let prompt: string | undefined;
      let promptProblem: string | undefined;
      let promptChanged = false;
      try {
        const rendered = renderStep(job, step, context);
        prompt = rendered.request.prompt;
        promptChanged = row.promptHash !== null && row.promptHash !== rendered.promptHash;
      } catch (error) {
        promptProblem = error instanceof TemplateValueMissing ? `${error.message} for this item` : String((error as Error).message ?? error);
      }
      const result = row.state === 'done' && row.result && typeof row.result === 'object' ? (row.result as Record<string, unknown>) : {};
      context.steps[step.name] = row.state === 'done' ? row.result : placeholder(step.name);
      const fields = Object.fromEntries(Object.entries(result).filter(([key]) => !RESULT_KEYS.has(key)));
      if (altText === undefined && typeof fields.alt_text === 'string') altText = fields.alt_text;
      const text = step.jsonSchema === undefined && typeof result.text === 'string' ? result.text : undefined;
      const outputs: ReviewOutput[] = [];
      for (const path of row.state === 'done' ? row.outputs : []) {
        const absolute = insideOutputDir(job.outputDir, path);
        if (!absolute) continue; // never show (or read) a file outside the output folder
        const output: ReviewOutput = { path, absolute, kind: outputKind(path) };
        if (output.kind === 'image' && options.thumbnails !== false) {
          thumbnails.push(
            limit(async () => {
              output.thumbnail = await makeThumbnail(absolute);
            }),
          );
        }
        outputs.push(output);
      }
      const rejection = rejections.get(`${item.id}\u0000${step.name}`);
      const replacedRow = replacedSteps.get(`${item.id}\u0000${step.name}`);
      let replaced: ReviewStep['replaced'];
      if (replacedRow) {
        const before = replacedRow.result && typeof replacedRow.result === 'object' ? (replacedRow.result as Record<string, unknown>) : {};
        const outputs: ReviewOutput[] = [];
        for (const path of replacedRow.outputs) {
          const absolute = replacedFile(job, replacedRow, path);
          if (absolute) outputs.push({ path, absolute, kind: outputKind(path) });
        }
        replaced = {
          fields: Object.fromEntries(Object.entries(before).filter(([key]) => !RESULT_KEYS.has(key))),
          ...(step.jsonSchema === undefined && typeof before.text === 'string' ? { text: before.text } : {}),
          outputs,
          replacedAt: replacedRow.replacedAt,
        };
      }
      const checkAttempts = (store.checkAttempts?.(item.id, step.name) ?? []).map((attempt): ReviewCheckAttempt => {
        const before = attempt.result && typeof attempt.result === 'object' ? (attempt.result as Record<string, unknown>) : {};
        const files: ReviewOutput[] = [];
        for (const path of attempt.outputs) {
          // Moved aside before the next attempt wrote the same names, under `<state file>.checks/`
          // (src/engine/replaced-attempts.ts); paths relative to it, as the store keeps them.
          const absolute = insideOutputDir(checkAttemptsRoot(job), path);
          if (!absolute || !existsSync(absolute)) continue;
          const output: ReviewOutput = { path, absolute, kind: outputKind(path) };
          if (output.kind === 'image' && options.thumbnails !== false)
            thumbnails.push(limit(async () => void (output.thumbnail = await makeThumbnail(absolute))));
          files.push(output);
        }
        return {
          attempt: attempt.attempt,
          fields: Object.fromEntries(Object.entries(before).filter(([key]) => !RESULT_KEYS.has(key))),
          ...(step.jsonSchema === undefined && typeof before.text === 'string' ? { text: before.text } : {}),
          outputs: files,
          checks: attempt.checks,
          costUsd: attempt.costUsd,
          at: attempt.at,
        };
      });
      steps.push({
        name: step.name,
        task: step.task,
        // The model that produced the output (a fallback, maybe), else the step's.
        model: row.model ?? step.model,
        ...(row.cached ? { cached: true } : {}),
        state: row.state,
        attempts: row.attempts,
        project: row.project,
        costUsd: row.costUsd,
        ...(prompt === undefined ? {} : { prompt }),
        ...(promptProblem === undefined ? {} : { promptProblem }),
        promptChanged,
        fields,
        ...(text === undefined ? {} : { text }),
        outputs,
        ...(row.errorCode || row.errorMessage ? { error: { code: row.errorCode ?? '', message: row.errorMessage ?? '' } } : {}),
        ...(rejection ? { rejected: { note: rejection.note, at: rejection.at } } : {}),
        ...(row.finishReason && row.finishReason !== 'STOP' ? { finishReason: row.finishReason } : {}),
        ...(row.state === 'done' && row.truncated ? { truncated: true } : {}),
        ...(replaced ? { replaced } : {}),
        ...(row.checks && row.checks.length > 0 ? { checks: row.checks } : {}),
        ...(row.checkOutcome ? { checkOutcome: row.checkOutcome } : {}),
        ...(checkAttempts.length > 0 ? { checkAttempts } : {}),
      });
    }
    items.push({
      id: item.id,
      ord: item.ord,
      line: item.line,
      values: item.values,
      state: itemState(stepRows.map((r) => r.state)),
      rejected: steps.some((s) => s.rejected),
      truncated: steps.some((s) => s.truncated === true),
      failedChecks: steps.some((s) => s.checks?.some((v) => !v.passed) === true || (s.checkAttempts?.length ?? 0) > 0),
      costUsd: steps.reduce((sum, s) => sum + s.costUsd, 0),
      ...(altText === undefined ? {} : { altText }),
      steps,
    });
  }
  await Promise.all(thumbnails);
  return {
    job: job.name,
    jobFile: job.file,
    generatedAt: new Date().toISOString(),
    status,
    rejectedItems: items.filter((i) => i.rejected).length,
    items,
  };
}
