import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ConfigError } from '../errors/config-error.js';
import { contextWindowCheck, describeOverflow } from '../estimate/context-window.js';
import { openInput } from './open-input.js';
import type { Problem } from './problem.js';
import { validateRecords } from './validate-input.js';
import type { Job, Step } from '../job/job.js';
import { parseTemplateVars, renderTemplate } from '../job/template.js';
import { resolveOutputPath } from '../outputs/output-path.js';
import { IdSet } from './id-set.js';
import { inputOptionsOf } from './input-options.js';
import { foldName, howTheyCollide, nameLengthProblem, outputName, shortValue } from '../outputs/output-names.js';
import { offloadInput } from './offload-input.js';

/** Problems kept for a message (only the first few are shown): past this, only counted. */
export const MAX_KEPT = 1000;

/** What prepareJob's pass over the rows found. Plain data, so a worker can hand it over. */
export interface RowScan {
  /** Records the bad-row policy lets through. */
  rows: number;
  /** Blank lines skipped (they hold no row). */
  blankLines: number;
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

/** Where an output name was rendered: the row, its item and the step. */
interface NameUse {
  key: string;
  name: string;
  line: number;
  id: string;
  step: string;
}

/**
 * One pass over the input: bad rows (validateInput's), then per record its id (empty, or seen
 * before), its column-only prompts (empty) and output names (outside the output folder, too long
 * for the file system, or the same file as another item's once case and Unicode normalisation are
 * ignored). `stop` is the error records() would throw (a bad row the policy does not cover).
 */
export async function scanJobRows(job: Job, shownInput: string): Promise<RowScan & { stop?: ConfigError }> {
  const seen = new IdSet();
  const suspects: { id: string; line: number }[] = [];
  const found = { items: [] as string[], total: 0 };
  const report = (problem: string): void => {
    found.total += 1;
    if (found.items.length < MAX_KEPT) found.items.push(problem);
  };
  const steps = job.steps.map((step) => ({ step, prompt: columnOnly(step.prompt) }));
  const outputs = perItemOutputs(job);
  // Output names as hashes, like ids: a name whose hash was seen is confirmed by a second reading.
  const names = new IdSet();
  const nameSuspects: NameUse[] = [];
  let rows = 0;
  const contextCheck = contextWindowCheck(job);
  const check = await validateRecords(inputOptionsOf(job), (record) => {
    rows += 1;
    const id = (record.values[job.input.id] ?? '').trim();
    let usable = id !== '';
    if (!usable) report(`${shownInput}:${record.line}: the id column "${job.input.id}" is empty`);
    else if (!seen.add(id)) {
      // A duplicate id is reported as such; its output names would only repeat that.
      usable = false;
      if (suspects.length < MAX_KEPT) suspects.push({ id, line: record.line });
    }
    const context = { columns: record.values, steps: {}, styles: job.styles };
    for (const { step, prompt } of steps) {
      if (prompt && renderTemplate(step.prompt, context).trim() === '') {
        report(`${shownInput}:${record.line}: item "${shortValue(id)}": the prompt of step "${step.name}" renders empty`);
      }
    }
    for (const over of contextCheck?.row(record.values) ?? []) report(`${shownInput}:${record.line}: item "${shortValue(id)}": ${describeOverflow(over)}`);
    for (const use of outputNames(job, outputs, record.values, id, record.line, (problem) => report(`${shownInput}:${record.line}: ${problem}`))) {
      if (usable && !names.add(use.key) && nameSuspects.length < MAX_KEPT) nameSuspects.push(use);
    }
  });
  if (nameSuspects.length > 0 && !check.stop) {
    for (const problem of await confirmNameCollisions(job, outputs, nameSuspects, shownInput)) report(problem);
  }
  const overContext = contextCheck?.summary(rows);
  if (overContext) {
    found.items.unshift(overContext);
    found.total += 1;
  }
  return {
    rows,
    blankLines: check.blankLines,
    problems: check.problems,
    problemCount: check.problemCount,
    found,
    suspects,
    ...(check.stop ? { stop: check.stop } : {}),
  };
}

/** Steps that write one file per item from a name that only uses input columns (and styles). */
function perItemOutputs(job: Job): { step: Step; file: string; columns: string[] }[] {
  return job.steps.flatMap((step) => {
    // An embedding step writes one file for all items (compileJob makes sure of it).
    if (step.output === undefined || step.task === 'embedding' || !columnOnly(step.output.file)) return [];
    const columns = parseTemplateVars(step.output.file).flatMap((v) => (v.kind === 'column' ? [`{{${v.name}}}`] : []));
    return [{ step, file: step.output.file, columns }];
  });
}

/** The output names of one row that can be written; the others are handed to `problem`. */
function outputNames(
  job: Job,
  outputs: ReturnType<typeof perItemOutputs>,
  values: Record<string, string>,
  id: string,
  line: number,
  problem: (message: string) => void,
): NameUse[] {
  const context = { columns: values, steps: {}, styles: job.styles };
  const uses: NameUse[] = [];
  for (const { step, file, columns } of outputs) {
    let target: string;
    try {
      target = resolveOutputPath(job.outputDir, renderTemplate(file, context), shortValue(id), step.name);
    } catch (error) {
      problem((error as Error).message);
      continue;
    }
    const name = outputName(job.outputDir, target);
    const tooLong = nameLengthProblem(name, target);
    if (tooLong !== undefined) {
      const from = columns.length > 0 ? `the value of ${columns.join(', ')} in this row` : 'output.file';
      problem(`item "${shortValue(id)}", step "${step.name}": ${tooLong}; shorten ${from}.`);
      continue;
    }
    uses.push({ key: foldName(name), name, line, id, step: step.name });
  }
  return uses;
}

/**
 * Reads the input again to find, for each output name whose hash was seen before, the row that used
 * it first; a different name with the same hash is no collision. Only inputs with suspects (almost
 * always refused) pay for this reading.
 */
async function confirmNameCollisions(job: Job, outputs: ReturnType<typeof perItemOutputs>, suspects: NameUse[], shownInput: string): Promise<string[]> {
  const wanted = new Set(suspects.map((s) => s.key));
  const first = new Map<string, NameUse>();
  const seen = new Set<string>();
  const opened = await openInput(inputOptionsOf(job));
  for await (const record of opened.records()) {
    const id = (record.values[job.input.id] ?? '').trim();
    if (id === '' || seen.has(id)) continue;
    seen.add(id);
    for (const use of outputNames(job, outputs, record.values, id, record.line, () => undefined)) {
      if (wanted.has(use.key) && !first.has(use.key)) first.set(use.key, use);
    }
    if (first.size === wanted.size) break;
  }
  return suspects.flatMap((use) => {
    const earlier = first.get(use.key);
    if (earlier === undefined || (earlier.line === use.line && earlier.step === use.step)) return [];
    const where =
      earlier.line === use.line
        ? `step "${earlier.step}" of the same item`
        : `item "${shortValue(earlier.id)}" (line ${earlier.line}${earlier.step === use.step ? '' : `, step "${earlier.step}"`})`;
    const same = earlier.name === use.name;
    const what = same ? `is also the output of ${where}` : `and that of ${where}, "${shortValue(earlier.name)}", are ${howTheyCollide(use.name, earlier.name)}`;
    const fix =
      earlier.line === use.line
        ? `give steps "${earlier.step}" and "${use.step}" output names that differ in more than case and accents`
        : `build output.file from a column whose values differ ${same ? 'from row to row' : 'in more than case and accents'} (the id, say), or change one of the two values`;
    return [`${shownInput}:${use.line}: item "${shortValue(use.id)}", step "${use.step}": the output file "${shortValue(use.name)}" ${what}; ${fix}.`];
  });
}

/** The compiled worker beside this module (dist/); the TypeScript sources (tests, tsx) have none. */
const WORKER = new URL('./scan-job-rows-worker.js', import.meta.url);

/**
 * scanJobRows on a worker thread when the compiled worker is there (the CLI) and the input is big: everything the pass
 * allocates (the id hashes of a million rows, the parser's garbage) goes when the thread ends,
 * instead of sitting in this process while the sync and the run need memory. The worker only
 * answers for inputs that read to the end; when records() would stop (an error to report), or the
 * worker cannot run, the pass is done here, where the error is built as it always is.
 */
export async function scanRowsForJob(job: Job, shownInput: string): Promise<RowScan & { stop?: ConfigError }> {
  const scanned = existsSync(fileURLToPath(WORKER)) && offloadInput(job.input.file) ? await onWorker(job, shownInput) : undefined;
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
