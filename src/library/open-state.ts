import { existsSync } from 'node:fs';
import { buildStatus, type StatusReport } from '../engine/status.js';
import { GenbatchError } from '../errors/genbatch-error.js';
import { displayPath, loadJob } from '../job/load-job.js';
import type { Job } from '../job/job.js';
import { rejectItems, type RejectOutcome } from './rejections.js';
import { decideRegenerated, regenerateRejected } from './replaced-outputs.js';
import type { ReplacedOutput } from '../store/rows.js';
import { StateStore, type ItemStepRow } from '../store/state-store.js';

// Approvals are a reviewer's marks, not engine state: kept as one meta entry of the state file.
const APPROVED_META = 'review.approved';

/**
 * A job's state file, opened for reading and for a reviewer's marks. Every method writes the file
 * at once (SQLite, in a transaction); close it when done. It can be open while a run works.
 */
export class JobState {
  constructor(
    readonly job: Job,
    readonly store: StateStore,
  ) {}

  /** Counts, cost, failures and last run: the `genbatch status --json` object. */
  status(): StatusReport {
    return buildStatus(this.job, this.store);
  }

  /** The steps of one item (state, attempts, cost, outputs, errors, rejection), or undefined for an unknown id. */
  item(id: string): { id: string; values: Record<string, string>; steps: ItemStepRow[] } | undefined {
    const row = this.store.getItem(id);
    return row ? { id: row.id, values: row.values, steps: this.store.itemSteps(id) } : undefined;
  }

  /** Marks done outputs as rejected (from `step` on), with a note; as `genbatch reject`. All or nothing. */
  reject(ids: readonly string[], options: { note?: string; step?: string } = {}): RejectOutcome {
    const outcome = rejectItems(this.job, this.store, ids, options);
    this.setApproved(this.approvedIds().filter((id) => !ids.includes(id)));
    return outcome;
  }

  /**
   * Approves items: their rejection (if any) is cleared and the approval is recorded. An item
   * regenerated since its rejection keeps the new output (its copy of the old one is dropped).
   */
  approve(ids: readonly string[]): void {
    for (const id of ids) decideRegenerated(this.job, this.store, id, 'new');
    this.store.clearRejection(ids);
    this.setApproved([...new Set([...this.approvedIds(), ...ids])]);
  }

  approvedIds(): string[] {
    const raw = this.store.getMeta(APPROVED_META);
    return raw ? (JSON.parse(raw) as string[]) : [];
  }

  /** Ids of items with a rejected step, in input order. */
  rejectedIds(): string[] {
    return this.store.rejectedItemIds();
  }

  /**
   * Puts rejected steps (and the later steps of their items) back to pending, as `retry --rejected`,
   * keeping their outputs aside for a before/after until the reviewer chooses; returns the steps reset.
   */
  retryRejected(): number {
    return regenerateRejected(this.job, this.store);
  }

  /** Regenerated items whose new output is not chosen yet: each puts its old output and result back. Returns the steps restored. */
  keepOld(ids: readonly string[]): number {
    let restored = 0;
    for (const id of ids) restored += decideRegenerated(this.job, this.store, id, 'old');
    return restored;
  }

  /** Outputs replaced by a regenerate that the reviewer has not chosen between yet (the "before" of each). */
  replacedOutputs(): ReplacedOutput[] {
    return this.store.undecidedReplaced();
  }

  close(): void {
    this.store.close();
  }

  private setApproved(ids: string[]): void {
    this.store.setMeta(APPROVED_META, JSON.stringify(ids));
  }
}

/** Opens the state file of a job (a job file path). Refused (exit 2) when the job has not run yet. */
export async function openState(jobFile: string, options: { readonly?: boolean } = {}): Promise<JobState> {
  const job = await loadJob(jobFile);
  if (!existsSync(job.stateFile)) {
    throw new GenbatchError(`${job.name} has not run yet: there is no state file at ${displayPath(job.stateFile)}.`, {
      code: 'NO_STATE',
      exitCode: 2,
      hint: `Run it first: genbatch run ${jobFile}`,
    });
  }
  return new JobState(job, StateStore.open(job.stateFile, { readonly: options.readonly ?? false }));
}
