import { modelsOf, type Job, type Step } from '../job/job.js';
import type { TemplateContext } from '../job/template.js';
import type { WorkItems } from '../store/interfaces/work-items.js';
import type { CheckVerdict } from '../quality/check-verdict.js';
import type { ItemRow, ItemStepRow } from '../store/rows.js';

/**
 * One unit of work: an item at its next step, with what its earlier steps produced. Units wait in
 * the scheduler's lanes; an item holds no worker while its unit waits.
 */
export interface Unit {
  item: ItemRow;
  step: Step;
  context: TemplateContext;
  /** Attempts already used (from the state file, then counted here). */
  attempts: number;
  /** A long-running operation started earlier (video), polled instead of started again. */
  operationName: string | undefined;
  /** The project that started that operation: only it can be asked about it. */
  operationProject: string | undefined;
  /** Put back to be redone (retry, --redo…): answered by a call, never from the response cache. */
  noCache?: boolean;
  /** How many times a reviewer had the step redone: a step with a `seed` sends seed + draw (a new draw). */
  draw?: number;
  /** Regenerations after failed checks in this round (on_fail.regenerate caps it), from the state file. */
  checkAttempts?: number;
  /** Every regeneration ever made: the seed moves on by it too. */
  checkDraws?: number;
  /** The verdicts of the output the last regeneration replaced: `feedback: true` adds their reasons to the prompt. */
  lastChecks?: CheckVerdict[];
}

/** How far a unit's seed moves: a reviewer's regenerates and the regenerations after failed checks. */
export function drawOf(unit: Pick<Unit, 'draw' | 'checkDraws'>): number {
  return (unit.draw ?? 0) + (unit.checkDraws ?? 0);
}

/** The params of a unit's request: a step's `seed` moves on with each regenerate (Vertex's seeds are int32). */
export function paramsForDraw(params: Record<string, unknown>, draw: number | undefined): Record<string, unknown> {
  if (!draw || typeof params.seed !== 'number') return params;
  return { ...params, seed: (params.seed + draw) % 2 ** 31 };
}

/** The lane a step's units wait in: its pool and model (quotas are per project and model). */
export function laneKey(job: Job, step: Step): string {
  return `${step.pool ?? job.pool ?? 'default'}/${modelsOf(step).join('>')}`;
}

/** The first step of an item with work left, or undefined when the item has none (or is blocked by a failed step). */
export function nextUnit(job: Job, rows: readonly ItemStepRow[], item: ItemRow, context?: TemplateContext): Unit | undefined {
  const ctx: TemplateContext = context ?? { columns: item.values, steps: {}, styles: job.styles };
  for (const step of job.steps) {
    const row = rows.find((r) => r.step === step.name);
    if (row?.state === 'done') {
      ctx.steps[step.name] ??= row.result as Record<string, unknown>;
      continue;
    }
    if (row && row.state !== 'pending') return undefined;
    const operationName = row?.operationName ?? undefined;
    return {
      item,
      step,
      context: ctx,
      attempts: row?.attempts ?? 0,
      operationName,
      operationProject: operationName ? (row?.project ?? undefined) : undefined,
      ...(row?.noCache ? { noCache: true } : {}),
      ...(row?.draw ? { draw: row.draw } : {}),
      ...(row?.checkAttempts ? { checkAttempts: row.checkAttempts } : {}),
      ...(row?.checkDraws ? { checkDraws: row.checkDraws } : {}),
      ...(row?.checks && row.checkAttempts ? { lastChecks: row.checks } : {}),
    };
  }
  return undefined;
}

/** The unit that follows a done one: the item's next step, reusing the context it built. */
export function followingUnit(job: Job, store: WorkItems, done: Unit): Unit | undefined {
  // The last step needs no look at the store: the item is finished.
  if (job.steps.at(-1)?.name === done.step.name) return undefined;
  return nextUnit(job, store.itemSteps(done.item.id), done.item, done.context);
}
