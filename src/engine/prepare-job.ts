import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import sharp from 'sharp';
import type { Credentials } from '../credentials/credentials.js';
import { loadCredentials } from '../credentials/load-credentials.js';
import { ConfigError, ConfigErrors } from '../errors/config-error.js';
import { PriceCatalog } from '../estimate/price-catalog.js';
import { badRowsError, openInput, validateInput } from '../input/index.js';
import { knownParams } from '../providers/provider-registry.js';
import type { Job } from '../job/job.js';
import { displayPath, loadJob } from '../job/load-job.js';
import { nearestKey } from '../job/suggest-key.js';
import { parseTemplateVars, renderTemplate } from '../job/template.js';
import { resolveOutputPath } from '../outputs/output-path.js';
import { resultFields } from '../outputs/results-writer.js';
import type { StateStore } from '../store/state-store.js';
import { rowHash } from './render-step.js';
import { inputOptionsOf } from './input-options.js';

export interface PreparedJob {
  job: Job;
  credentials: Credentials;
  catalog: PriceCatalog;
  columns: string[];
  rows: number;
}

const MAX_LISTED = 50;

function listed(problems: string[]): string {
  const shown = problems.slice(0, MAX_LISTED);
  return shown.join('\n') + (problems.length > MAX_LISTED ? `\n  … and ${problems.length - MAX_LISTED} more` : '');
}

/** Templates that only use input columns and styles can be checked on every row before any call. */
function columnOnly(template: string): boolean {
  return parseTemplateVars(template).every((v) => v.kind !== 'step');
}

/**
 * Everything `validate` checks, and `run` checks before spending: the job file, the credentials, the
 * prices of every model, and a full pass over the input (bad rows, ids, template variables, empty
 * prompts, output names). Nothing is written.
 */
export async function prepareJob(jobFile: string, options: { emulated?: boolean } = {}): Promise<PreparedJob> {
  const job = await loadJob(jobFile);
  const credentials = await loadCredentials(job.credentialsFile, { emulated: options.emulated ?? false });
  const catalog = PriceCatalog.load(job.prices);
  const shownJob = displayPath(job.file);

  const unpriced = job.steps.filter((s) => !catalog.has(s.model));
  if (unpriced.length > 0) {
    throw new ConfigErrors(
      unpriced.map(
        (s) =>
          new ConfigError(`${shownJob}: steps.${s.name}.model: no price known for model "${s.model}"`, {
            file: job.file,
            keyPath: `steps.${s.name}.model`,
            hint: 'Check the model name, or give its price under `prices:` in the job file (see docs/cost-control.md).',
          }),
      ),
    );
  }
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
  }
  // Files the steps read (watermarks) must exist and decode before anything is paid for.
  for (const step of job.steps) {
    for (const [index, op] of (step.output?.post ?? []).entries()) {
      if (!('watermark' in op)) continue;
      const file = resolve(job.dir, op.watermark.image);
      try {
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

  // Bad rows first (every one the policy leaves, listed), then ids, prompts and output names row by row.
  const check = await validateInput(inputOptions);
  const badRows = badRowsError(shownInput, check.problems, job.input.onBadRow, check.problemCount);
  if (badRows) throw badRows;
  const seen = new Map<string, number>();
  const duplicates: string[] = [];
  let rows = 0;
  for await (const record of opened.records()) {
    rows += 1;
    const id = (record.values[job.input.id] ?? '').trim();
    if (id === '') problems.push(`${shownInput}:${record.line}: the id column "${job.input.id}" is empty`);
    else if (seen.has(id)) duplicates.push(`${shownInput}:${record.line}: id "${id}" already used on line ${seen.get(id)}`);
    else seen.set(id, record.line);
    const context = { columns: record.values, steps: {}, styles: job.styles };
    for (const step of job.steps) {
      if (columnOnly(step.prompt) && renderTemplate(step.prompt, context).trim() === '') {
        problems.push(`${shownInput}:${record.line}: item "${id}": the prompt of step "${step.name}" renders empty`);
      }
      if (step.output && columnOnly(step.output.file)) {
        try {
          resolveOutputPath(job.outputDir, renderTemplate(step.output.file, context), id, step.name);
        } catch (error) {
          problems.push(`${shownInput}:${record.line}: ${(error as Error).message}`);
        }
      }
    }
  }
  if (duplicates.length > 0) problems.unshift(`${duplicates.length} duplicate id(s) in column "${job.input.id}":`, ...duplicates);
  if (problems.length > 0) {
    throw new ConfigError(`The input of ${shownJob} is not usable; nothing was sent:\n${listed(problems)}`, { file: job.input.file, code: 'INPUT_INVALID' });
  }
  if (rows === 0) throw new ConfigError(`${shownInput} has no data rows.`, { file: job.input.file, code: 'INPUT_EMPTY' });
  return { job, credentials, catalog, columns, rows };
}

/** Streams the input into the state file, in batches, so a resume knows every item. */
export async function syncItems(prepared: PreparedJob, store: StateStore, runId: string): Promise<number> {
  const { job } = prepared;
  const opened = await openInput(inputOptionsOf(job));
  const steps = job.steps.map((s) => s.name);
  let batch: Parameters<StateStore['upsertItems']>[0] = [];
  let ord = 0;
  for await (const record of opened.records()) {
    const id = (record.values[job.input.id] ?? '').trim();
    batch.push({ id, ord: ord++, line: record.line, values: record.values, inputHash: rowHash(record.values) });
    if (batch.length >= 1000) {
      store.upsertItems(batch, steps, runId);
      batch = [];
    }
  }
  store.upsertItems(batch, steps, runId);
  store.retireUnseenItems(runId);
  store.setMeta('job_name', job.name);
  return ord;
}
