import { ConfigError } from '../errors/config-error.js';
import { displayPath } from '../job/load-job.js';
import type { Job } from '../job/job.js';
import type { ItemSync } from '../store/interfaces/item-sync.js';
import type { JobMeta } from '../store/interfaces/job-meta.js';
import type { StepQueries } from '../store/step-queries.js';

const META_KEY = 'job_identity';

/** What finds a job's done work in its state: the id column, and each step's name, model and output name. */
export interface JobIdentity {
  id: string;
  steps: { name: string; model: string; output: string | null }[];
}

export function identityOf(job: Job): JobIdentity {
  return { id: job.input.id, steps: job.steps.map((s) => ({ name: s.name, model: s.model, output: s.output?.file ?? null })) };
}

const usd = (n: number): string => `$${n.toFixed(2)}`;

/**
 * Edits that would silently redo (and pay again for) work already done, found before any call:
 * a changed `input.id` (every item gets a new identity) or a renamed step (its done items are under
 * the old name). A step with `renamed_from:` carries its work over. Changed models and output names
 * redo nothing by themselves (done items are kept, and reported stale where their request changed):
 * they are only said. The identity is recorded once accepted.
 */
export function checkJobIdentity(
  job: Job,
  store: JobMeta & Pick<ItemSync, 'renameStep'> & { readonly steps: Pick<StepQueries, 'finishedByStep'> },
  options: { accept: boolean; notice: (message: string) => void },
): void {
  // Unchanged since it was last accepted (every ordinary resume): nothing to find, and no pass over
  // a million step rows to count what an edit would redo.
  if (store.getMeta(META_KEY) === JSON.stringify(identityOf(job))) return;
  const finished = new Map(store.steps.finishedByStep().map((row) => [row.step, row]));
  carryRenamedSteps(job, store, finished, options.notice);
  const now = identityOf(job);
  const before = previousIdentity(store.getMeta(META_KEY), finished, now);
  const problems = before ? identityProblems(before, now, finished) : [];
  if (before) noticeStepChanges(before, now, finished, options.notice);
  if (problems.length > 0 && !options.accept) {
    throw new ConfigError(`${displayPath(job.file)}: the job's identity changed since the last run, and nothing was sent:\n  - ${problems.join('\n  - ')}`, {
      code: 'JOB_IDENTITY_CHANGED',
      file: job.file,
      hint: 'Undo the edit, add `renamed_from:` to a renamed step, or run again with --accept-changes to do that work again.',
    });
  }
  store.setMeta(META_KEY, JSON.stringify(now));
}

/** The finished work of each step: its name, items and cost. */
type FinishedWork = Map<string, ReturnType<StepQueries['finishedByStep']>[number]>;

/** Steps with `renamed_from:` take over their old name's work (in the state, and in `finished`). */
function carryRenamedSteps(job: Job, store: Pick<ItemSync, 'renameStep'>, finished: FinishedWork, notice: (message: string) => void): void {
  for (const step of job.steps) {
    if (step.renamedFrom === undefined || step.renamedFrom === step.name || !finished.has(step.renamedFrom) || finished.has(step.name)) continue;
    const moved = store.renameStep(step.renamedFrom, step.name);
    const work = finished.get(step.renamedFrom);
    finished.delete(step.renamedFrom);
    if (work) finished.set(step.name, { ...work, step: step.name });
    notice(`Step "${step.renamedFrom}" is now "${step.name}" (renamed_from): its ${moved} item(s) keep their state, ${work?.items ?? 0} of them finished.`);
  }
}

/** The identity last accepted; for a state from before identities were recorded, the step names of its rows. */
function previousIdentity(saved: string | undefined, finished: FinishedWork, now: JobIdentity): JobIdentity | undefined {
  if (saved) return JSON.parse(saved) as JobIdentity;
  return finished.size > 0 ? { id: now.id, steps: [...finished.keys()].map((name) => ({ name, model: '', output: null })) } : undefined;
}

/** Edits that would redo finished work: a changed `input.id`, steps with work gone while new ones appear. */
function identityProblems(before: JobIdentity, now: JobIdentity, finished: FinishedWork): string[] {
  const problems: string[] = [];
  const doneItems = Math.max(0, ...[...finished.values()].map((w) => w.items));
  const doneCost = [...finished.values()].reduce((sum, w) => sum + w.costUsd, 0);
  if (before.id !== now.id && doneItems > 0) {
    problems.push(
      `input.id changed from "${before.id}" to "${now.id}": every item gets a new identity, so the ${doneItems} item(s) finished so far would be done again (they cost ${usd(doneCost)}), and files named after their ids written again.`,
    );
  }
  const names = new Set(now.steps.map((s) => s.name));
  const gone = before.steps.filter((s) => !names.has(s.name) && (finished.get(s.name)?.items ?? 0) > 0);
  const added = now.steps.filter((s) => !before.steps.some((b) => b.name === s.name));
  if (gone.length > 0 && added.length > 0) {
    const work = gone.map((s) => finished.get(s.name)).filter((w) => w !== undefined);
    problems.push(
      `step(s) ${gone.map((s) => `"${s.name}"`).join(', ')} with finished work are gone and ${added.map((s) => `"${s.name}"`).join(', ')} new: ` +
        `if a step was renamed, add \`renamed_from: ${gone[0]?.name ?? ''}\` to it to keep its work; otherwise ${work.map((w) => `${w.items} item(s) of "${w.step}"`).join(', ')} ` +
        `would be done again under the new name (they cost ${usd(work.reduce((sum, w) => sum + w.costUsd, 0))}).`,
    );
  }
  return problems;
}

/** Changed models and output names redo nothing by themselves: they are only said. */
function noticeStepChanges(before: JobIdentity, now: JobIdentity, finished: FinishedWork, notice: (message: string) => void): void {
  for (const step of now.steps) {
    const old = before.steps.find((b) => b.name === step.name);
    const items = finished.get(step.name)?.items ?? 0;
    if (!old || items === 0) continue;
    if (old.model !== '' && old.model !== step.model)
      notice(`Step "${step.name}" now uses ${step.model} (was ${old.model}): its ${items} finished item(s) are kept; \`--redo-stale\` redoes them.`);
    if (old.model !== '' && old.output !== step.output)
      notice(`Step "${step.name}" now writes ${step.output ?? 'no file'} (was ${old.output ?? 'no file'}): its ${items} finished item(s) keep their files.`);
  }
}
