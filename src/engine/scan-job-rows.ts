import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ConfigError } from '../errors/config-error.js';
import { validateRecords, type Problem } from '../input/index.js';
import type { Job } from '../job/job.js';
import { parseTemplateVars, renderTemplate } from '../job/template.js';
import { resolveOutputPath } from '../outputs/output-path.js';
import { IdSet } from './id-set.js';
import { inputOptionsOf } from './input-options.js';

/** Problems kept for a message (only the first few are shown): past this, only counted. */
export const MAX_KEPT = 1000;

/** What prepareJob's pass over the rows found. Plain data, so a worker can hand it over. */
export interface RowScan {
  /** Records the bad-row policy lets through. */
  rows: number;
  /** Bad rows (the first MAX_PROBLEMS) and their count, as validateInput reports them. */
  problems: Problem[];
  problemCount: number;
  /** Row problems (empty id, empty prompt, output name), the first MAX_KEPT, and their count. */
  found: { items: string[]; total: number };
  /** Rows whose id hashed like an earlier row's: duplicates, once confirmed. */
  suspects: { id: string; line: number }[];
}

/** Templates that only use input columns and styles can be checked on every row before any call. */
export function columnOnly(template: string): boolean {
  return parseTemplateVars(template).every((v) => v.kind !== 'step');
}

/**
 * One pass over the input: bad rows (validateInput's), then per record its id (empty, or seen
 * before), its column-only prompts (empty) and output names (outside the output folder). `stop`
 * is the error records() would throw (a bad row the policy does not cover).
 */
export async function scanJobRows(job: Job, shownInput: string): Promise<RowScan & { stop?: ConfigError }> {
  const seen = new IdSet();
  const suspects: { id: string; line: number }[] = [];
  const found = { items: [] as string[], total: 0 };
  const report = (problem: string): void => {
    found.total += 1;
    if (found.items.length < MAX_KEPT) found.items.push(problem);
  };
  const steps = job.steps.map((step) => ({
    step,
    prompt: columnOnly(step.prompt),
    output: step.output !== undefined && columnOnly(step.output.file) ? step.output.file : undefined,
  }));
  let rows = 0;
  const check = await validateRecords(inputOptionsOf(job), (record) => {
    rows += 1;
    const id = (record.values[job.input.id] ?? '').trim();
    if (id === '') report(`${shownInput}:${record.line}: the id column "${job.input.id}" is empty`);
    else if (!seen.add(id) && suspects.length < MAX_KEPT) suspects.push({ id, line: record.line });
    const context = { columns: record.values, steps: {}, styles: job.styles };
    for (const { step, prompt, output } of steps) {
      if (prompt && renderTemplate(step.prompt, context).trim() === '') {
        report(`${shownInput}:${record.line}: item "${id}": the prompt of step "${step.name}" renders empty`);
      }
      if (output !== undefined) {
        try {
          resolveOutputPath(job.outputDir, renderTemplate(output, context), id, step.name);
        } catch (error) {
          report(`${shownInput}:${record.line}: ${(error as Error).message}`);
        }
      }
    }
  });
  return { rows, problems: check.problems, problemCount: check.problemCount, found, suspects, ...(check.stop ? { stop: check.stop } : {}) };
}

/** The compiled worker beside this module (dist/); the TypeScript sources (tests, tsx) have none. */
const WORKER = new URL('./scan-job-rows-worker.js', import.meta.url);

/**
 * scanJobRows on a worker thread when the compiled worker is there (the CLI): everything the pass
 * allocates (the id hashes of a million rows, the parser's garbage) goes when the thread ends,
 * instead of sitting in this process while the sync and the run need memory. The worker only
 * answers for inputs that read to the end; when records() would stop (an error to report), or the
 * worker cannot run, the pass is done here, where the error is built as it always is.
 */
export async function scanRowsForJob(job: Job, shownInput: string): Promise<RowScan & { stop?: ConfigError }> {
  const scanned = existsSync(fileURLToPath(WORKER)) ? await onWorker(job, shownInput) : undefined;
  return scanned ?? scanJobRows(job, shownInput);
}

function onWorker(job: Job, shownInput: string): Promise<RowScan | undefined> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(WORKER, { workerData: { job, shownInput } });
    } catch {
      resolve(undefined);
      return;
    }
    let result: RowScan | undefined;
    worker.once('message', (message: { scan?: RowScan }) => {
      result = message.scan;
    });
    worker.once('error', () => undefined);
    worker.once('exit', () => resolve(result));
  });
}
