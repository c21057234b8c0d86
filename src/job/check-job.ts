import { resolve } from 'node:path';
import type { ConfigError } from '../errors/config-error.js';
import { nearestName } from '../errors/suggest-name.js';
import { knownParams } from '../providers/provider-registry.js';
import { videoParamProblems } from '../providers/veo-limits.js';
import { jobProblem, type Problem } from './config-problem.js';
import { displayPath } from './display-path.js';
import { modelsOf, type Job } from './job.js';
import { fallbackProblem } from './model-task.js';

/**
 * The second pass of the job compiler: the compiled job checked against the models genbatch can price
 * and the projects of the credentials file, before anything is spent. Each function returns the
 * problems of one kind (prepareJob reports one kind at a time, so that a wrong model name is not
 * buried under what follows from it); every problem goes through the job's problem helper, which names
 * the file, line and key.
 */

/** What the checks ask of the model catalog (estimate's PriceCatalog answers it; a job's `prices:` are in it). */
export interface ModelCatalog {
  has(model: string): boolean;
  serves(model: string, api: 'vertex' | 'gemini'): boolean;
  nearestModel(model: string): string | undefined;
  nearestModels(model: string): string[];
}

/** What the checks ask of the credentials file: the projects each step's pool draws on. */
export interface PoolProjects {
  projects: readonly { name: string; enabled: boolean; pool: string; api?: 'vertex' | 'gemini' }[];
}

const PRICE_HINT = 'Check the model name, or give its price under `prices:` in the job file (see docs/cost-control.md).';

/**
 * Why a model name is refused, with the nearest names a step may use. Names match the catalog (or a
 * job's `prices:`) exactly: a near miss such as "gemini-2.5-flash-img" would be priced wrongly and fail
 * every call (Vertex answers 404), so it is refused before anything is spent.
 */
function unknownModel(catalog: ModelCatalog, model: string): string {
  const suggestion = catalog.nearestModel(model);
  const nearest = catalog.nearestModels(model).map((name) => `"${name}"`);
  return `unknown model "${model}" (no price known for it)${suggestion ? `; did you mean "${suggestion}"?` : ''} Model names must match the price catalog exactly; nearest catalog names: ${nearest.join(', ')}.`;
}

/** Steps whose model has no price. */
export function unpricedModels(job: Job, catalog: ModelCatalog, problem: Problem = jobProblem(job)): ConfigError[] {
  return job.steps.filter((s) => !catalog.has(s.model)).map((s) => problem(`steps.${s.name}.model`, unknownModel(catalog, s.model), PRICE_HINT));
}

/** Fallback models listed twice, unpriced, of another task, or on an embedding step (vectors of two models do not compare). */
export function fallbackProblems(job: Job, catalog: ModelCatalog, problem: Problem = jobProblem(job)): ConfigError[] {
  const problems: ConfigError[] = [];
  for (const step of job.steps) {
    const seen = new Set([step.model]);
    (step.fallback ?? []).forEach((model, index) => {
      const refuse = (message: string, hint: string): void => {
        problems.push(problem(`steps.${step.name}.fallback[${index}]`, message, hint));
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
        refuse(unknownModel(catalog, model), PRICE_HINT);
        return;
      }
      const mismatch = fallbackProblem(step.task, model, step.jsonSchema !== undefined);
      if (mismatch) refuse(mismatch, "Choose fallback models that do the same task as the step's model (see docs/fallback.md).");
    });
  }
  return problems;
}

/** A pool of Gemini API keys only, for a model the Gemini API is not sent (Imagen, Veo): refused now, not at the first call. */
export function unservedModels(job: Job, catalog: ModelCatalog, credentials: PoolProjects, problem: Problem = jobProblem(job)): ConfigError[] {
  const problems: ConfigError[] = [];
  for (const step of job.steps) {
    const pool = step.pool ?? job.pool;
    const members = credentials.projects.filter((p) => p.enabled && (pool === undefined || p.pool === pool));
    if (members.length === 0 || members.some((p) => (p.api ?? 'vertex') === 'vertex')) continue;
    if (modelsOf(step).some((model) => catalog.serves(model, 'gemini'))) continue;
    problems.push(
      problem(
        `steps.${step.name}.model`,
        `${step.model} is not sent to the Gemini API, and pool "${pool ?? 'default'}" has only Gemini API keys (${members.map((p) => p.name).join(', ')})`,
        'Add a Vertex AI project to the pool (docs/credentials.md), or give the step a fallback: model the Gemini API serves (docs/fallback.md).',
      ),
    );
  }
  return problems;
}

/** Parameters the step's model does not take, and Veo's limits on the ones it does. */
export function paramProblems(job: Job, problem: Problem = jobProblem(job)): ConfigError[] {
  const problems: ConfigError[] = [];
  for (const step of job.steps) {
    const known = knownParams(step.task, step.model);
    for (const name of Object.keys(step.params)) {
      if (known.includes(name)) continue;
      const suggestion = nearestName(name, known);
      problems.push(
        problem(
          `steps.${step.name}.params.${name}`,
          `unknown parameter for ${step.task} model ${step.model}${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
          `Valid parameters: ${known.join(', ') || 'none'}.`,
        ),
      );
    }
    if (step.task === 'video')
      for (const [name, message] of videoParamProblems(step.model, step.params))
        problems.push(problem(`steps.${step.name}.params.${name}`, `${message}.`, 'See docs/video.md for what each Veo model accepts.'));
  }
  return problems;
}

/** Files the steps read (watermarks) must exist and decode before anything is paid for. */
export async function watermarkProblems(job: Job, problem: Problem = jobProblem(job)): Promise<ConfigError[]> {
  const problems: ConfigError[] = [];
  for (const step of job.steps) {
    for (const [index, op] of (step.output?.post ?? []).entries()) {
      if (!('watermark' in op)) continue;
      const file = resolve(job.dir, op.watermark.image);
      try {
        // Loaded only for a job with a watermark: sharp costs some 30 MB a text job does not need.
        const { default: sharp } = await import('sharp');
        await sharp(file).metadata();
      } catch (error) {
        problems.push(
          problem(
            `steps.${step.name}.output.post[${index}].watermark.image`,
            `${displayPath(file)} is not a readable image (${(error as Error).message}).`,
            'Paths in the job file are relative to the job file.',
          ),
        );
      }
    }
  }
  return problems;
}
