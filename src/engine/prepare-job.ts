import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Credentials } from '../credentials/credentials.js';
import { loadCredentials } from '../credentials/load-credentials.js';
import { ConfigError, ConfigErrors } from '../errors/config-error.js';
import { PriceCatalog } from '../estimate/price-catalog.js';
import { thinkingProblems } from '../estimate/thinking-budget.js';
import { badRowsError, openInput } from '../input/index.js';
import { videoParamProblems } from '../providers/veo-limits.js';
import { fallbackProblem } from '../job/model-task.js';
import { knownParams } from '../providers/provider-registry.js';
import { modelsOf, type Job } from '../job/job.js';
import { displayPath, loadJob } from '../job/load-job.js';
import { nearestKey } from '../job/suggest-key.js';
import { parseTemplateVars } from '../job/template.js';
import { resultFields } from '../outputs/results-writer.js';
import { outputPathProblems } from '../outputs/output-paths-check.js';
import type { ItemSync } from '../store/interfaces/item-sync.js';
import type { JobMeta } from '../store/interfaces/job-meta.js';
import type { WorkItems } from '../store/interfaces/work-items.js';
import type { ItemUpsert } from '../store/rows.js';
import { syncRows } from './sync-rows.js';
import { batchStagingProblems } from './batch-staging-check.js';
import { inputOptionsOf } from './input-options.js';
import { scanRowsForJob } from './scan-job-rows.js';
import { fingerprintInput, validatedRows, validationKey, type InputFingerprint } from './input-fingerprint.js';

export interface PreparedJob {
  job: Job;
  credentials: Credentials;
  catalog: PriceCatalog;
  columns: string[];
  rows: number;
  /**
   * With `reuseValidation`: the input's fingerprint when it was validated, the validation key, and
   * whether the rows were scanned now or the last validation of the same input was reused.
   */
  input?: { fingerprint: InputFingerprint; validationKey: string; validated: 'scanned' | 'reused' };
}

const MAX_LISTED = 50;

function listed(problems: string[], unkept = 0): string {
  const shown = problems.slice(0, MAX_LISTED);
  const more = problems.length - shown.length + unkept;
  return shown.join('\n') + (more > 0 ? `\n  … and ${more} more` : '');
}

/**
 * Rows whose id hashed like an earlier one's: duplicates once the input is read again, which also
 * finds the line each id was first used on (a different id with the same 64-bit hash is not one).
 * Reads the input again only when there are suspects, which almost always means it has duplicates
 * and is refused anyway.
 */
async function confirmDuplicates(
  options: ReturnType<typeof inputOptionsOf>,
  idColumn: string,
  suspects: { id: string; line: number }[],
): Promise<{ id: string; line: number; firstLine: number }[]> {
  if (suspects.length === 0) return [];
  const wanted = new Set(suspects.map((s) => s.id));
  const firstLine = new Map<string, number>();
  const opened = await openInput(options);
  for await (const record of opened.records()) {
    const id = (record.values[idColumn] ?? '').trim();
    if (wanted.has(id) && !firstLine.has(id)) firstLine.set(id, record.line);
    if (firstLine.size === wanted.size) break;
  }
  return suspects.flatMap((s) => {
    const first = firstLine.get(s.id);
    return first !== undefined && first < s.line ? [{ ...s, firstLine: first }] : [];
  });
}

/**
 * Why a model name is refused, with the nearest names a step may use. Names match the catalog (or a
 * job's `prices:`) exactly: a near miss such as "gemini-2.5-flash-img" would be priced wrongly and fail
 * every call (Vertex answers 404), so it is refused before anything is spent.
 */
function unknownModel(catalog: PriceCatalog, model: string): string {
  const suggestion = catalog.nearestModel(model);
  const nearest = catalog.nearestModels(model).map((name) => `"${name}"`);
  return `unknown model "${model}" (no price known for it)${suggestion ? `; did you mean "${suggestion}"?` : ''} Model names must match the price catalog exactly; nearest catalog names: ${nearest.join(', ')}.`;
}

/**
 * Everything `validate` checks, and `run` checks before spending: the job file, the credentials, the
 * prices of every model, and a full pass over the input (bad rows, ids, template variables, empty
 * prompts, output names). Nothing is written.
 *
 * With `reuseValidation` (run, resume), the pass over the rows is skipped when the state file says
 * this very input (same content hash) was validated under the same rules, templates and reading
 * options, and a run then synced it: a resume of a million-row job does not parse it again.
 */
export async function prepareJob(
  jobFile: string,
  /** `checkOutputs: false`: where the run writes is not checked (`cancel` writes no output, and must not be kept from stopping spend). */
  options: { emulated?: boolean; reuseValidation?: boolean; checkOutputs?: boolean } = {},
): Promise<PreparedJob> {
  const job = await loadJob(jobFile);
  const credentials = await loadCredentials(job.credentialsFile, {
    emulated: options.emulated ?? false,
    namedBy: { file: job.file, ...(job.lines?.credentials === undefined ? {} : { line: job.lines.credentials }) },
  });
  const catalog = PriceCatalog.load(job.prices);
  const shownJob = displayPath(job.file);

  const unpriced = job.steps.filter((s) => !catalog.has(s.model));
  if (unpriced.length > 0) {
    throw new ConfigErrors(
      unpriced.map((s) => {
        const line = job.lines?.[`steps.${s.name}.model`];
        return new ConfigError(`${shownJob}${line === undefined ? '' : `:${line}`}: steps.${s.name}.model: ${unknownModel(catalog, s.model)}`, {
          file: job.file,
          ...(line === undefined ? {} : { line }),
          keyPath: `steps.${s.name}.model`,
          hint: 'Check the model name, or give its price under `prices:` in the job file (see docs/cost-control.md).',
        });
      }),
    );
  }
  const fallbackProblems: ConfigError[] = [];
  for (const step of job.steps) {
    const seen = new Set([step.model]);
    (step.fallback ?? []).forEach((model, index) => {
      const key = `steps.${step.name}.fallback[${index}]`;
      const line = job.lines?.[key];
      const refuse = (message: string, hint: string): void => {
        fallbackProblems.push(
          new ConfigError(`${shownJob}${line === undefined ? '' : `:${line}`}: ${key}: ${message}`, {
            file: job.file,
            ...(line === undefined ? {} : { line }),
            keyPath: key,
            hint,
          }),
        );
      };
      if (seen.has(model)) refuse(`${model} is already in the step's models`, 'List each model once: `model:` first, then the fallbacks in order.');
      seen.add(model);
      if (step.task === 'embedding') {
        refuse(
          'an embedding step cannot fall back to another model: vectors of different models cannot be compared',
          'Remove fallback: from this step, or spread it over more projects in the credentials file.',
        );
        return;
      }
      if (!catalog.has(model)) {
        refuse(unknownModel(catalog, model), 'Check the model name, or give its price under `prices:` in the job file (see docs/cost-control.md).');
        return;
      }
      const problem = fallbackProblem(step.task, model, step.jsonSchema !== undefined);
      if (problem) refuse(problem, "Choose fallback models that do the same task as the step's model (see docs/fallback.md).");
    });
  }
  if (fallbackProblems.length > 0) throw new ConfigErrors(fallbackProblems);
  // A pool of Gemini API keys only, for a model the Gemini API is not sent (Imagen, Veo): refused now, not at the first call.
  const unserved: ConfigError[] = [];
  for (const step of job.steps) {
    const pool = step.pool ?? job.pool;
    const members = credentials.projects.filter((p) => p.enabled && (pool === undefined || p.pool === pool));
    if (members.length === 0 || members.some((p) => (p.api ?? 'vertex') === 'vertex')) continue;
    if (modelsOf(step).some((model) => catalog.serves(model, 'gemini'))) continue;
    const line = job.lines?.[`steps.${step.name}.model`];
    unserved.push(
      new ConfigError(
        `${shownJob}${line === undefined ? '' : `:${line}`}: steps.${step.name}.model: ${step.model} is not sent to the Gemini API, and pool "${pool ?? 'default'}" has only Gemini API keys (${members.map((p) => p.name).join(', ')})`,
        {
          file: job.file,
          ...(line === undefined ? {} : { line }),
          keyPath: `steps.${step.name}.model`,
          hint: 'Add a Vertex AI project to the pool (docs/credentials.md), or give the step a fallback: model the Gemini API serves (docs/fallback.md).',
        },
      ),
    );
  }
  if (unserved.length > 0) throw new ConfigErrors(unserved);
  const staging = batchStagingProblems(job, credentials, { emulated: options.emulated ?? false });
  if (staging.length > 0) throw new ConfigErrors(staging);
  const paramProblems: ConfigError[] = [];
  for (const step of job.steps) {
    const known = knownParams(step.task, step.model);
    for (const name of Object.keys(step.params)) {
      if (known.includes(name)) continue;
      const suggestion = nearestKey(name, known);
      paramProblems.push(
        new ConfigError(
          `${shownJob}: steps.${step.name}.params.${name}: unknown parameter for ${step.task} model ${step.model}${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
          { file: job.file, keyPath: `steps.${step.name}.params.${name}`, hint: `Valid parameters: ${known.join(', ') || 'none'}.` },
        ),
      );
    }
    // Thinking counts against max_output_tokens: a budget that leaves the reply too little is refused (docs/thinking.md).
    for (const problem of thinkingProblems(step, catalog)) {
      const line = job.lines?.[problem.keyPath];
      paramProblems.push(
        new ConfigError(`${shownJob}${line === undefined ? '' : `:${line}`}: ${problem.keyPath}: ${problem.message}.`, {
          file: job.file,
          ...(line === undefined ? {} : { line }),
          keyPath: problem.keyPath,
          hint: problem.hint,
        }),
      );
    }
    if (step.task === 'video')
      for (const [name, message] of videoParamProblems(step.model, step.params)) {
        const line = job.lines?.[`steps.${step.name}.params.${name}`];
        paramProblems.push(
          new ConfigError(`${shownJob}${line === undefined ? '' : `:${line}`}: steps.${step.name}.params.${name}: ${message}.`, {
            file: job.file,
            ...(line === undefined ? {} : { line }),
            keyPath: `steps.${step.name}.params.${name}`,
            hint: 'See docs/video.md for what each Veo model accepts.',
          }),
        );
      }
  }
  // Files the steps read (watermarks) must exist and decode before anything is paid for.
  for (const step of job.steps) {
    for (const [index, op] of (step.output?.post ?? []).entries()) {
      if (!('watermark' in op)) continue;
      const file = resolve(job.dir, op.watermark.image);
      try {
        // Loaded only for a job with a watermark: sharp costs some 30 MB a text job does not need.
        const { default: sharp } = await import('sharp');
        await sharp(file).metadata();
      } catch (error) {
        paramProblems.push(
          new ConfigError(
            `${shownJob}: steps.${step.name}.output.post[${index}].watermark.image: ${displayPath(file)} is not a readable image (${(error as Error).message}).`,
            {
              file: job.file,
              keyPath: `steps.${step.name}.output.post[${index}].watermark.image`,
              hint: 'Paths in the job file are relative to the job file.',
            },
          ),
        );
      }
    }
  }
  if (job.resultsFields) {
    try {
      resultFields(job, { fields: job.resultsFields });
    } catch (error) {
      paramProblems.push(new ConfigError(`${shownJob}: results.fields: ${(error as Error).message}`, { file: job.file, keyPath: 'results.fields' }));
    }
  }
  // Where the run writes (results, output folder, output names): a folder where a file goes is found now, not after every call is paid.
  for (const found of options.checkOutputs === false ? [] : outputPathProblems(job)) {
    const line = job.lines?.[found.keyPath];
    paramProblems.push(
      new ConfigError(`${shownJob}${line === undefined ? '' : `:${line}`}: ${found.keyPath}: ${displayPath(found.path)} ${found.problem}; nothing was sent.`, {
        file: job.file,
        ...(line === undefined ? {} : { line }),
        keyPath: found.keyPath,
        code: 'OUTPUT_PATH_UNUSABLE',
        hint: `Point \`${found.keyPath}\` at a path genbatch can write (paths in the job file are relative to the job file), or move what is in the way.`,
      }),
    );
  }
  if (paramProblems.length > 0) throw new ConfigErrors(paramProblems);
  try {
    await access(job.input.file);
  } catch {
    throw new ConfigError(`${shownJob}: input.file: the input file ${displayPath(job.input.file)} does not exist or is not readable.`, {
      file: job.file,
      keyPath: 'input.file',
      code: 'INPUT_MISSING',
      hint: 'Paths in the job file are relative to the job file.',
    });
  }

  const inputOptions = inputOptionsOf(job);
  const opened = await openInput(inputOptions);
  const shownInput = displayPath(job.input.file);
  const columns = opened.columns;
  const problems: string[] = [];

  if (!columns.includes(job.input.id)) {
    const suggestion = nearestKey(job.input.id, columns);
    throw new ConfigError(
      `${shownJob}: input.id: the id column "${job.input.id}" is not in ${shownInput} (columns: ${columns.join(', ')})${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
      { file: job.file, keyPath: 'input.id' },
    );
  }
  for (const step of job.steps) {
    const templates: [string, string][] = [[`steps.${step.name}.prompt`, step.prompt]];
    if (step.system) templates.push([`steps.${step.name}.system`, step.system]);
    if (step.output) templates.push([`steps.${step.name}.output.file`, step.output.file]);
    for (const [path, template] of templates) {
      for (const variable of parseTemplateVars(template)) {
        if (variable.kind === 'column' && !columns.includes(variable.name)) {
          const suggestion = nearestKey(variable.name, columns);
          problems.push(
            `${shownJob}: ${path}: {{${variable.raw}}} names a column that is not in ${shownInput} (columns: ${columns.join(', ')})${suggestion ? `; did you mean {{${suggestion}}}?` : ''}`,
          );
        }
      }
    }
  }
  if (problems.length > 0) throw new ConfigErrors(problems.map((p) => new ConfigError(p, { file: job.file })));

  const fingerprint = options.reuseValidation ? await fingerprintInput(job.input.file) : undefined;
  const key = fingerprint && validationKey(job, fingerprint);
  if (fingerprint && key) {
    const rows = validatedRows(job.stateFile, key);
    if (rows !== undefined) return { job, credentials, catalog, columns, rows, input: { fingerprint, validationKey: key, validated: 'reused' } };
  }

  // One pass: bad rows first (every one the policy leaves, listed), then ids, prompts and output names row by row.
  const scan = await scanRowsForJob(job, shownInput);
  const { rows, suspects, found } = scan;
  const badRows = badRowsError(shownInput, scan.problems, job.input.onBadRow, scan.problemCount);
  if (badRows) throw badRows;
  if (scan.stop) throw scan.stop;
  const duplicates = await confirmDuplicates(inputOptions, job.input.id, suspects);
  for (const problem of found.items) problems.push(problem);
  if (duplicates.length > 0)
    problems.unshift(
      `${duplicates.length} duplicate id(s) in column "${job.input.id}":`,
      ...duplicates.map((d) => `${shownInput}:${d.line}: id "${d.id}" already used on line ${d.firstLine}`),
    );
  if (problems.length > 0) {
    const more = found.total - found.items.length;
    throw new ConfigError(`The input of ${shownJob} is not usable; nothing was sent:\n${listed(problems, more)}`, {
      file: job.input.file,
      code: 'INPUT_INVALID',
    });
  }
  if (rows === 0) throw new ConfigError(`${shownInput} has no data rows.`, { file: job.input.file, code: 'INPUT_EMPTY' });
  return {
    job,
    credentials,
    catalog,
    columns,
    rows,
    ...(fingerprint && key ? { input: { fingerprint, validationKey: key, validated: 'scanned' as const } } : {}),
  };
}

/** Rows written per transaction when the input is synced: big transactions, few commits. */
const SYNC_BATCH = 1000;

/** The steps every item had a row for at the end of the last sync (a meta key of the state). */
const SYNCED_STEPS = 'synced_steps';

/**
 * Streams the input into the state file, in batches, so a resume knows every item. Into an empty
 * state (a first run) nothing can be retired, so the pass over the items that would find them is
 * skipped; with the steps of the last sync, no item can gain a step, so none is looked at for that.
 */
export async function syncItems(prepared: PreparedJob, store: JobMeta & ItemSync & Pick<WorkItems, 'itemCount'>, runId: string): Promise<number> {
  const { job } = prepared;
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
