import type { Job } from '../job/job.js';
import type { TemplateContext } from '../job/template.js';
import type { StateStore } from '../store/state-store.js';
import { renderStep } from './render-step.js';
import { openInput } from '../input/index.js';
import { inputOptionsOf } from './input-options.js';

export interface StaleItem {
  id: string;
  /** The first step whose request would differ today; it and every later step are stale. */
  fromStep: string;
}

/**
 * Done items whose request would be different now: the input row or a template changed since
 * the step was done. Each done step is rendered again from the current row (with the stored
 * results of earlier steps) and its hash compared with the one stored when it was done.
 * `rows` is the current input; without it, the rows stored at the last run are used.
 */
export async function findStaleItems(job: Job, store: StateStore, rows?: AsyncIterable<{ id: string; values: Record<string, string> }>): Promise<StaleItem[]> {
  const stale: StaleItem[] = [];
  const source: AsyncIterable<{ id: string; values: Record<string, string> }> | Iterable<{ id: string; values: Record<string, string> }> =
    rows ?? store.iterateItems();
  for await (const item of source) {
    const done = store.itemSteps(item.id).filter((r) => r.promptHash);
    if (done.length === 0) continue;
    const context: TemplateContext = { columns: item.values, steps: {}, styles: job.styles };
    for (const step of job.steps) {
      const row = done.find((r) => r.step === step.name);
      if (!row || !row.promptHash) break;
      let hash: string | undefined;
      try {
        hash = renderStep(job, step, context).promptHash;
      } catch {
        hash = undefined; // a value the template needs is gone: the step must be redone
      }
      if (hash !== row.promptHash) {
        stale.push({ id: item.id, fromStep: step.name });
        break;
      }
      context.steps[step.name] = row.result;
    }
  }
  return stale;
}

/** The current input as (id, values) pairs, for staleness checks. */
export async function* currentRows(job: Job): AsyncGenerator<{ id: string; values: Record<string, string> }> {
  const opened = await openInput(inputOptionsOf(job));
  for await (const record of opened.records()) yield { id: (record.values[job.input.id] ?? '').trim(), values: record.values };
}
