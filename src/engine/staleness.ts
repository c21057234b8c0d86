import { existsSync } from 'node:fs';
import type { Job } from '../job/job.js';
import type { TemplateContext } from '../job/template.js';
import type { ItemSync } from '../store/interfaces/item-sync.js';
import type { JobMeta } from '../store/interfaces/job-meta.js';
import type { WorkItems } from '../store/interfaces/work-items.js';
import { FIRST_ITEM } from '../store/item-cursor.js';
import type { ItemStepRow } from '../store/rows.js';
import { renderStep } from './render-step.js';
import { rowHash } from '../input/row-hash.js';

/** What counting stale steps reads. */
type StalenessReads = Pick<ItemSync, 'staleCandidates' | 'itemBases'> & Pick<JobMeta, 'getMeta' | 'schemaVersion'> & Pick<WorkItems, 'itemSteps'>;
/** What a staleness check reads and, to redo stale steps, writes. */
type StalenessState = StalenessReads & ItemSync;
import { openInput } from '../input/index.js';
import { inputOptionsOf } from '../input/index.js';
import { fingerprintInput, lastSync, META, stalenessKey, syncKey } from '../input/index.js';

export interface StaleItem {
  id: string;
  /** The first step whose request would differ today; it and every later step are stale. */
  fromStep: string;
}

/** Items judged at a time: memory stays bounded whatever the size of the job. */
const PAGE = 500;

/**
 * The first step of a done item whose request would be different now (the input row or a template
 * changed since it was done), or undefined: each step with a stored request hash is rendered again
 * from `values` (with the stored results of earlier steps) and its hash compared with the stored one.
 */
export function staleFrom(job: Job, values: Record<string, string>, rows: readonly ItemStepRow[]): string | undefined {
  const done = rows.filter((r) => r.promptHash);
  if (done.length === 0) return undefined;
  const context: TemplateContext = { columns: values, steps: {}, styles: job.styles };
  for (const step of job.steps) {
    const row = done.find((r) => r.step === step.name);
    if (!row || !row.promptHash) return undefined;
    let hash: string | undefined;
    try {
      hash = renderStep(job, step, context).promptHash;
    } catch {
      hash = undefined; // a value the template needs is gone: the step must be redone
    }
    if (hash !== row.promptHash) return step.name;
    context.steps[step.name] = row.result;
  }
  return undefined;
}

export interface StalenessReport {
  stale: number;
  redone: number;
}

/**
 * Judges, from the rows the state holds, the items that may be stale: those flagged for a recheck
 * (their row changed at a sync, or they were found stale before), or with `everything` (the steps
 * or styles changed, or no check was ever recorded) every item with a hashed step. A page at a time,
 * never every row at once. Stale items stay flagged, so a kept one is reported on every run until it
 * is redone; with `redo` their stale steps (and every later one) go back to pending instead.
 */
export function checkStaleness(job: Job, store: StalenessState, options: { everything: boolean; redo: boolean }): StalenessReport {
  const names = job.steps.map((s) => s.name);
  let cursor = FIRST_ITEM;
  let stale = 0;
  let redone = 0;
  for (;;) {
    const page = store.staleCandidates(cursor, PAGE, options.everything);
    const fine: string[] = [];
    const found: StaleItem[] = [];
    for (const item of page) {
      const fromStep = staleFrom(job, item.values, store.itemSteps(item.id));
      if (fromStep === undefined) fine.push(item.id);
      else found.push({ id: item.id, fromStep });
    }
    stale += found.length;
    if (options.redo) {
      for (const item of found) store.resetSteps([item.id], names.slice(names.indexOf(item.fromStep)), ['done', 'failed', 'filtered']);
      redone += found.length;
      store.setRecheck([...fine, ...found.map((item) => item.id)], false);
    } else {
      store.setRecheck(fine, false);
      store.setRecheck(
        found.map((item) => item.id),
        true,
      );
    }
    const last = page.at(-1);
    if (!last || page.length < PAGE) break;
    cursor = last.cursor;
  }
  return { stale, redone };
}

/**
 * How many done items are stale, without writing anything (`status`). With `rows` (the input as it
 * is now, streamed), each row is judged when its hash differs from the stored one, when it is flagged,
 * or with `everything`; without, the candidates are judged on the stored rows as checkStaleness does.
 */
export async function countStale(
  job: Job,
  store: StalenessReads,
  options: { everything: boolean; rows?: AsyncIterable<{ id: string; values: Record<string, string> }> },
): Promise<number> {
  let stale = 0;
  if (!options.rows) {
    let cursor = FIRST_ITEM;
    for (;;) {
      const page = store.staleCandidates(cursor, PAGE, options.everything);
      for (const item of page) if (staleFrom(job, item.values, store.itemSteps(item.id)) !== undefined) stale += 1;
      const last = page.at(-1);
      if (!last || page.length < PAGE) return stale;
      cursor = last.cursor;
    }
  }
  let batch: { id: string; values: Record<string, string> }[] = [];
  const judge = (): void => {
    const bases = store.itemBases(batch.map((row) => row.id));
    for (const row of batch) {
      const base = bases.get(row.id);
      if (!base?.hashed) continue;
      if (!options.everything && !base.recheck && base.inputHash === rowHash(row.values)) continue;
      if (staleFrom(job, row.values, store.itemSteps(row.id)) !== undefined) stale += 1;
    }
    batch = [];
  };
  for await (const row of options.rows) {
    batch.push(row);
    if (batch.length >= PAGE) judge();
  }
  judge();
  return stale;
}

/** The current input as (id, values) pairs, for staleness checks. */
export async function* currentRows(job: Job): AsyncGenerator<{ id: string; values: Record<string, string> }> {
  const opened = await openInput(inputOptionsOf(job));
  for await (const record of opened.records()) yield { id: (record.values[job.input.id] ?? '').trim(), values: record.values };
}

/**
 * Stale done items as `status` reports them, judged against the input as it is now. When the input
 * has the content last synced and the steps are those last checked, only the flagged items are
 * judged (on the stored rows, which are the input's); else the input is streamed and its changed or
 * flagged rows judged (every row when the steps changed). An unreadable input: the stored rows.
 */
export async function staleNow(job: Job, store: StalenessReads): Promise<number> {
  const everything = store.schemaVersion() < 3 || store.getMeta(META.staleBasis) !== stalenessKey(job);
  if (existsSync(job.input.file)) {
    try {
      const synced = lastSync(store);
      if (synced?.key === syncKey(job, await fingerprintInput(job.input.file))) return countStale(job, store, { everything });
      return await countStale(job, store, { everything, rows: currentRows(job) });
    } catch {
      // unreadable now: judged on the stored rows below
    }
  }
  return countStale(job, store, { everything });
}
