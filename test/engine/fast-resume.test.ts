import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { describe, expect, it, vi } from 'vitest';
import { prepareJob } from '../../src/engine/prepare-job.js';
import type * as OpenInputModule from '../../src/input/open-input.js';
import type * as ValidateInputModule from '../../src/input/validate-input.js';
import { renderStep } from '../../src/engine/render-step.js';
import { RunSession } from '../../src/engine/run-session.js';
import { staleFrom, staleNow } from '../../src/engine/staleness.js';
import type { Job } from '../../src/job/job.js';
import { loadJob } from '../../src/job/load-job.js';
import { FIRST_ITEM, StateStore } from '../../src/store/state-store.js';
import { posts, writeJobFixture, type PostRow } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';

/** How often the input's rows were read: validation passes, and record streams started (syncs). */
const reads = vi.hoisted(() => ({ validations: 0, recordStreams: 0 }));

// Counted where the input layer itself calls them (a job's rows are checked and synced inside src/input).
vi.mock('../../src/input/validate-input.js', async (importOriginal) => {
  const actual = await importOriginal<typeof ValidateInputModule>();
  return {
    ...actual,
    validateRecords: (...args: Parameters<typeof actual.validateRecords>) => {
      reads.validations += 1;
      return actual.validateRecords(...args);
    },
  };
});

vi.mock('../../src/input/open-input.js', async (importOriginal) => {
  const actual = await importOriginal<typeof OpenInputModule>();
  return {
    ...actual,
    openInput: async (...args: Parameters<typeof actual.openInput>) => {
      const opened = await actual.openInput(...args);
      return {
        ...opened,
        records: () => {
          reads.recordStreams += 1;
          return opened.records();
        },
      };
    },
  };
});

const tempDir = useTempDir();
const DEAD_ENDPOINT = 'http://127.0.0.1:9';

/** One run's start, as `genbatch run` does it: prepare (reusing a validation), open, sync. Nothing is called. */
async function startRun(jobFile: string, redoStale = false) {
  reads.validations = 0;
  reads.recordStreams = 0;
  const prepared = await prepareJob(jobFile, { emulated: true, reuseValidation: true });
  const session = RunSession.open(prepared, { emulated: true });
  try {
    const report = await session.sync({ redoStale });
    return { report, validated: prepared.input?.validated, reads: { ...reads } };
  } finally {
    await session.close();
  }
}

/** Every step of every item with work done, as the engine leaves it: the result and the hash of the request it sent. */
function finishAll(job: Job): void {
  const store = StateStore.open(job.stateFile);
  try {
    for (const item of store.pendingItems(-1, 10_000)) {
      const context = { columns: item.values, steps: {} as Record<string, unknown>, styles: job.styles };
      for (const step of job.steps) {
        const { promptHash } = renderStep(job, step, context);
        const result = step.jsonSchema ? { image_prompt: `a picture of ${item.values.title ?? ''}`, alt_text: 'alt' } : { file: `images/${item.id}.png` };
        store.completeStep(item.id, step.name, { result, outputs: [], promptHash, costUsd: 0 });
        context.steps[step.name] = result;
      }
    }
  } finally {
    store.close();
  }
}

function writePosts(dir: string, rows: (PostRow & { notes?: string })[]): void {
  const columns = ['title', 'slug', 'meta_description', ...(rows.some((r) => r.notes !== undefined) ? ['notes'] : [])];
  writeFileSync(join(dir, 'posts.csv'), stringify(rows, { header: true, columns }));
}

function flagged(job: Job): string[] {
  const store = StateStore.open(job.stateFile, { readonly: true });
  try {
    return store.staleCandidates(FIRST_ITEM, 10_000, false).map((item) => item.id);
  } finally {
    store.close();
  }
}

/** The reference: every item of the state judged on its stored row, as findStaleItems did before. */
function staleByBruteForce(job: Job): string[] {
  const store = StateStore.open(job.stateFile, { readonly: true });
  try {
    return [...store.iterateItems()].filter((item) => staleFrom(job, item.values, store.itemSteps(item.id)) !== undefined).map((item) => item.id);
  } finally {
    store.close();
  }
}

describe('fast resume: an unchanged input is not read again', () => {
  it('reads, validates and syncs the rows only when the content changed; one changed row makes exactly that item stale', async () => {
    const dir = tempDir();
    const jobFile = writeJobFixture(dir, { endpoint: DEAD_ENDPOINT, items: 6 });
    const job = await loadJob(jobFile);
    const csv = join(dir, 'posts.csv');

    const first = await startRun(jobFile);
    expect(first.validated).toBe('scanned');
    expect(first.reads).toEqual({ validations: 1, recordStreams: 1 });
    expect(first.report).toEqual({ items: 6, stale: 0, redone: 0 });
    finishAll(job);

    // Unchanged: no row is parsed, validated or synced; nothing is judged.
    const second = await startRun(jobFile);
    expect(second.validated).toBe('reused');
    expect(second.reads).toEqual({ validations: 0, recordStreams: 0 });
    expect(second.report).toEqual({ items: 6, stale: 0, redone: 0 });

    // A touch changes the time, not the content: still not read.
    const later = new Date(Date.now() + 60_000);
    utimesSync(csv, later, later);
    expect((await startRun(jobFile)).reads).toEqual({ validations: 0, recordStreams: 0 });

    // One row changes: read again, and exactly that item is stale (and flagged for the next runs).
    const rows = posts(6);
    rows[2] = { ...rows[2]!, title: 'Something else entirely' };
    writePosts(dir, rows);
    const changed = await startRun(jobFile);
    expect(changed.validated).toBe('scanned');
    expect(changed.reads).toEqual({ validations: 1, recordStreams: 1 });
    expect(changed.report).toEqual({ items: 6, stale: 1, redone: 0 });
    expect(flagged(job)).toEqual([rows[2]!.slug]);

    // Unchanged again: not read, and the kept stale item is still reported.
    const kept = await startRun(jobFile);
    expect(kept.reads).toEqual({ validations: 0, recordStreams: 0 });
    expect(kept.report.stale).toBe(1);

    // --redo-stale: that item goes back to pending, and is no longer flagged.
    const redo = await startRun(jobFile, true);
    expect(redo.report).toEqual({ items: 6, stale: 1, redone: 1 });
    expect(flagged(job)).toEqual([]);
    const store = StateStore.open(job.stateFile, { readonly: true });
    expect(store.pendingItemCount()).toBe(1);
    expect(store.itemSteps(rows[2]!.slug).map((s) => s.state)).toEqual(['pending', 'pending']);
    store.close();

    // An edit that keeps the size and the modification time is still seen (the content is hashed).
    const before = statSync(csv);
    const text = readFileSync(csv, 'utf8');
    writeFileSync(csv, text.replace('Kubernetes in production, part 1', 'Kubernetes in production, part X'));
    utimesSync(csv, before.atime, before.mtime);
    expect(statSync(csv).size).toBe(before.size);
    const sneaky = await startRun(jobFile);
    expect(sneaky.reads).toEqual({ validations: 1, recordStreams: 1 });
    expect(sneaky.report.stale).toBe(1);
    expect(flagged(job)).toEqual(['kubernetes-1']);
  });

  it('a changed template is noticed without reading the input: every done item is judged again', async () => {
    const dir = tempDir();
    const jobFile = writeJobFixture(dir, { endpoint: DEAD_ENDPOINT, items: 5 });
    await startRun(jobFile);
    finishAll(await loadJob(jobFile));
    writeFileSync(
      jobFile,
      readFileSync(jobFile, 'utf8').replace('prompt: "{{steps.brief.image_prompt}}"', 'prompt: "{{steps.brief.image_prompt}}, watercolour"'),
    );
    const run = await startRun(jobFile);
    expect(run.reads.recordStreams).toBe(0);
    expect(run.report.stale).toBe(5);
    // Checked once: the next run judges only the (kept, flagged) stale items, and finds them again.
    expect((await startRun(jobFile)).report.stale).toBe(5);
  });
});

describe('fast resume: staleness from flags and SQL finds what judging every item finds', () => {
  it('after rows change, a column no template uses is added, a row goes and two come, then a template changes', async () => {
    const dir = tempDir();
    const jobFile = writeJobFixture(dir, { endpoint: DEAD_ENDPOINT, items: 30 });
    const job = await loadJob(jobFile);
    await startRun(jobFile);
    finishAll(job);

    const rows: (PostRow & { notes?: string })[] = posts(32).map((row) => ({ ...row, notes: 'internal' }));
    rows[3] = { ...rows[3]!, title: `${rows[3]!.title} (updated)` };
    rows[7] = { ...rows[7]!, meta_description: 'A new description' };
    rows[19] = { ...rows[19]!, title: `${rows[19]!.title}!` };
    rows.splice(11, 1); // item 12 leaves the input; it is done, so it is kept
    writePosts(dir, rows);

    // `status` before the run: judged against the input as it is now (streamed, changed rows only).
    const store = StateStore.open(job.stateFile, { readonly: true });
    const streamed = await staleNow(job, store);
    store.close();
    const run = await startRun(jobFile);
    const expected = staleByBruteForce(job);
    expect(expected.sort()).toEqual([rows[3]!.slug, rows[7]!.slug, rows[18]!.slug].sort());
    expect(run.report.stale).toBe(expected.length);
    expect(streamed).toBe(expected.length);
    expect(flagged(job).sort()).toEqual(expected);

    // A template of the second step changes: every done item is stale (from that step or before).
    const edited = (await loadJob(jobFile)).steps;
    writeFileSync(jobFile, readFileSync(jobFile, 'utf8').replace('prompt: "{{steps.brief.image_prompt}}"', 'prompt: "{{steps.brief.image_prompt}}, ink"'));
    const changedJob = await loadJob(jobFile);
    expect(changedJob.steps).not.toEqual(edited);
    const status = StateStore.open(job.stateFile, { readonly: true });
    const beforeRun = await staleNow(changedJob, status);
    status.close();
    const again = await startRun(jobFile);
    const all = staleByBruteForce(changedJob);
    expect(all).toHaveLength(30);
    expect(again.report.stale).toBe(30);
    // The input is the one last synced, so status judges the stored rows, as the run does (the done
    // item that left the input included).
    expect(beforeRun).toBe(30);
    expect(flagged(changedJob).sort()).toEqual(all.sort());
  });
});
