import type { Job } from '../job/job.js';
import type { ItemSync } from '../store/interfaces/item-sync.js';
import type { JobMeta } from '../store/interfaces/job-meta.js';
import type { WorkItems } from '../store/interfaces/work-items.js';
import type { ItemUpsert } from '../store/rows.js';
import { inputOptionsOf } from './input-options.js';
import { syncRows } from './sync-rows.js';

/** Rows written per transaction when the input is synced: big transactions, few commits. */
const SYNC_BATCH = 1000;

/** The steps every item had a row for at the end of the last sync (a meta key of the state). */
const SYNCED_STEPS = 'synced_steps';

/**
 * Streams the input into the state file, in batches, so a resume knows every item. Into an empty
 * state (a first run) nothing can be retired, so the pass over the items that would find them is
 * skipped; with the steps of the last sync, no item can gain a step, so none is looked at for that.
 */
export async function syncItems(job: Job, store: JobMeta & ItemSync & Pick<WorkItems, 'itemCount'>, runId: string): Promise<number> {
  const first = store.itemCount() === 0;
  const steps = job.steps.map((s) => s.name);
  const reopen = !first && store.getMeta(SYNCED_STEPS) !== JSON.stringify(steps);
  let batch: ItemUpsert[] = [];
  let rows = 0;
  for await (const page of syncRows(inputOptionsOf(job), job.input.id)) {
    for (const [ord, id, line, rowJson, inputHash] of page) batch.push({ id, ord, line, rowJson, inputHash });
    rows = (page.at(-1)?.[0] ?? -1) + 1;
    if (batch.length >= SYNC_BATCH) {
      store.upsertItems(batch, steps, runId, { reopen });
      batch = [];
    }
  }
  store.upsertItems(batch, steps, runId, { reopen });
  if (!first) store.retireUnseenItems(runId);
  store.setMeta(SYNCED_STEPS, JSON.stringify(steps));
  store.setMeta('job_name', job.name);
  return rows;
}
