import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError, ConfigErrors } from '../errors/config-error.js';
import { parseDuration } from './duration.js';
import { batchRefusal, stepFields, type Job, type Step } from './job.js';
import { shorthandToSchema } from './json-shorthand.js';
import { jobFileSchema, type JobFile } from './schema.js';
import { validKeysAt } from './schema-keys.js';
import { resolveStyles } from './styles.js';
import { nearestKey } from './suggest-key.js';
import { parseTemplateVars, templateSyntaxProblems } from './template.js';

/** The line of the key at `path`; with `snippet`, the line inside its value where the snippet is written. */
export type LineOf = (path: readonly PropertyKey[], snippet?: string) => number | undefined;

export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out || '(top level)';
}

function problem(file: string, lineOf: LineOf, path: readonly PropertyKey[], message: string, hint?: string, snippet?: string): ConfigError {
  const line = lineOf(path, snippet);
  const where = line === undefined ? file : `${file}:${line}`;
  return new ConfigError(`${where}: ${formatKeyPath(path)}: ${message}`, {
    file,
    ...(line === undefined ? {} : { line }),
    keyPath: formatKeyPath(path),
    ...(hint === undefined ? {} : { hint }),
  });
}

/** Turns zod's issues into sentences naming the key path and line, with typo suggestions. */
function schemaProblems(file: string, lineOf: LineOf, error: z.ZodError): ConfigError[] {
  const problems: ConfigError[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const valid = validKeysAt(jobFileSchema, issue.path);
      for (const key of issue.keys) {
        const suggestion = nearestKey(key, valid);
        problems.push(
          problem(
            file,
            lineOf,
            [...issue.path, key],
            `unknown key "${key}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
            `Valid keys here: ${valid.join(', ')}.`,
          ),
        );
      }
    } else if (issue.code === 'invalid_union') {
      problems.push(problem(file, lineOf, issue.path, 'not a valid value here (see `genbatch schema` for the accepted forms)'));
    } else {
      problems.push(problem(file, lineOf, issue.path, issue.message));
    }
  }
  return problems;
}

const TEMPLATE_HINT = 'Close every {{ with }}; genbatch has no way to send a literal {{, so reword text that needs one.';

/** Checks that need only the job itself: step names, step references, styles, JSON shorthand. */
function compileSteps(file: string, lineOf: LineOf, parsed: JobFile, problems: ConfigError[]): Step[] {
  const steps: Step[] = [];
  const seen = new Map<string, Step>();
  parsed.steps.forEach((raw, index) => {
    const at = (...rest: PropertyKey[]): PropertyKey[] => ['steps', index, ...rest];
    if (seen.has(raw.name)) problems.push(problem(file, lineOf, at('name'), `step name "${raw.name}" is used twice`));
    let jsonSchema: Step['jsonSchema'];
    if (raw.json) {
      if (raw.task !== 'text') problems.push(problem(file, lineOf, at('json'), `json output is for text steps, not ${raw.task}`));
      try {
        jsonSchema = shorthandToSchema(raw.json, 'json');
      } catch (error) {
        problems.push(problem(file, lineOf, at('json'), (error as Error).message));
      }
    }
    const timeoutMs = parseDuration(raw.timeout ?? parsed.limits.timeout) ?? 120_000;
    const step: Step = {
      name: raw.name,
      task: raw.task,
      model: raw.model,
      prompt: raw.prompt,
      params: raw.params,
      maxAttempts: raw.max_attempts ?? parsed.limits.max_attempts,
      timeoutMs,
      mode: raw.mode,
      ...(raw.system === undefined ? {} : { system: raw.system }),
      ...(jsonSchema === undefined ? {} : { jsonSchema }),
      ...(raw.max_output_tokens === undefined ? {} : { maxOutputTokens: raw.max_output_tokens }),
      ...(raw.on_truncated === undefined ? {} : { onTruncated: raw.on_truncated }),
      ...(raw.temperature === undefined ? {} : { temperature: raw.temperature }),
      ...(raw.output === undefined ? {} : { output: { file: raw.output.file, post: raw.output.post, ...(raw.output.npy ? { npy: raw.output.npy } : {}) } }),
      ...(raw.pool === undefined ? {} : { pool: raw.pool }),
      ...(raw.batch_size === undefined ? {} : { batchSize: raw.batch_size }),
      ...(raw.renamed_from === undefined ? {} : { renamedFrom: raw.renamed_from }),
      ...(raw.fallback === undefined ? {} : { fallback: raw.fallback }),
      ...(raw.cache === undefined ? {} : { cache: raw.cache }),
    };
    if (raw.on_truncated !== undefined && step.task !== 'text') {
      problems.push(
        problem(file, lineOf, at('on_truncated'), `on_truncated applies to text and JSON steps (a reply cut at max_output_tokens), not ${step.task}`),
      );
    }
    if (step.output && step.task === 'image' && step.output.post.length > 0) {
      // fine: post-processing applies to images
    } else if (step.output && step.output.post.length > 0) {
      problems.push(problem(file, lineOf, at('output', 'post'), `post-processing applies to image steps, not ${step.task}`));
    }

    const refusal = step.mode === 'online' ? undefined : batchRefusal(step);
    if (refusal) {
      problems.push(
        problem(
          file,
          lineOf,
          at('mode'),
          `step "${step.name}" cannot run in mode ${step.mode}: ${refusal}`,
          'Remove `mode:` (or set mode: online) for this step.',
        ),
      );
    }
    if (step.output?.npy && step.task !== 'embedding') problems.push(problem(file, lineOf, at('output', 'npy'), 'a .npy file is for embedding steps'));
    if (step.task === 'embedding' && step.output && parseTemplateVars(step.output.file).some((v) => v.kind !== 'style')) {
      problems.push(
        problem(
          file,
          lineOf,
          at('output', 'file'),
          'an embedding step writes one JSON Lines file for all items (id, vector): give a plain file name, like embeddings.jsonl',
        ),
      );
    }
    const templates: [PropertyKey[], string][] = [[at('prompt'), raw.prompt]];
    if (raw.system) templates.push([at('system'), raw.system]);
    if (raw.output) templates.push([at('output', 'file'), raw.output.file]);
    (raw.output?.post ?? []).forEach((op, i) => {
      if ('overlay_text' in op) templates.push([at('output', 'post', i, 'overlay_text', 'text'), op.overlay_text.text]);
    });
    for (const [path, template] of templates) {
      for (const syntax of templateSyntaxProblems(template)) {
        problems.push(problem(file, lineOf, path, syntax.message, TEMPLATE_HINT, syntax.snippet));
      }
      for (const variable of parseTemplateVars(template)) {
        if (variable.kind === 'style' && !(variable.name in parsed.styles)) {
          const suggestion = nearestKey(variable.name, Object.keys(parsed.styles));
          problems.push(
            problem(
              file,
              lineOf,
              path,
              `{{${variable.raw}}} names a style that is not defined under styles${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
            ),
          );
        } else if (variable.kind === 'step') {
          const earlier = seen.get(variable.step);
          if (!earlier) {
            problems.push(problem(file, lineOf, path, `{{${variable.raw}}} refers to step "${variable.step}", which is not an earlier step of this job`));
          } else {
            const fields = stepFields(earlier);
            const top = variable.field.split('.')[0] ?? '';
            if (!fields.includes(top)) {
              problems.push(problem(file, lineOf, path, `{{${variable.raw}}}: step "${variable.step}" has no field "${top}" (it has: ${fields.join(', ')})`));
            }
          }
        }
      }
    }
    seen.set(step.name, step);
    steps.push(step);
  });
  return steps;
}

/** Lines of the keys that checks after compiling report on: the credentials file, each step's model, max_output_tokens and params. */
function linesOf(lineOf: LineOf, parsed: JobFile): Record<string, number> {
  const lines: Record<string, number> = {};
  const add = (key: string, path: PropertyKey[]): void => {
    const line = lineOf(path);
    if (line !== undefined) lines[key] = line;
  };
  add('credentials', ['credentials']);
  parsed.steps.forEach((step, index) => {
    add(`steps.${step.name}.model`, ['steps', index, 'model']);
    add(`steps.${step.name}.max_output_tokens`, ['steps', index, 'max_output_tokens']);
    (step.fallback ?? []).forEach((_, i) => add(`steps.${step.name}.fallback[${i}]`, ['steps', index, 'fallback', i]));
    for (const name of Object.keys(step.params)) add(`steps.${step.name}.params.${name}`, ['steps', index, 'params', name]);
  });
  return lines;
}

/** Validates and normalises a parsed job file. Throws ConfigErrors listing every problem found. */
export function compileJob(raw: unknown, file: string, lineOf: LineOf = () => undefined): Job {
  const result = jobFileSchema.safeParse(raw);
  if (!result.success) throw new ConfigErrors(schemaProblems(file, lineOf, result.error));
  const parsed = result.data;
  const problems: ConfigError[] = [];
  const styles = resolveStyles(parsed.styles);
  for (const p of styles.problems) problems.push(problem(file, lineOf, ['styles', p.style], p.message, undefined, p.snippet));
  const steps = compileSteps(file, lineOf, parsed, problems);
  if (problems.length > 0) throw new ConfigErrors(problems);

  const dir = dirname(resolve(file));
  const job: Job = {
    file: resolve(file),
    dir,
    name: parsed.name,
    input: {
      file: resolve(dir, parsed.input.file),
      id: parsed.input.id,
      delimiter: parsed.input.delimiter,
      onBadRow: parsed.input.on_bad_row,
      ...(parsed.input.quote === undefined ? {} : { quote: parsed.input.quote }),
      ...(parsed.input.encoding === undefined ? {} : { encoding: parsed.input.encoding }),
    },
    credentialsFile: resolve(dir, parsed.credentials),
    stateFile: resolve(dir, parsed.state ?? `.genbatch/${parsed.name}.db`),
    outputDir: resolve(dir, parsed.output_dir),
    steps,
    styles: styles.resolved,
    limits: {
      concurrency: parsed.limits.concurrency,
      maxAttempts: parsed.limits.max_attempts,
      maxStallMs: parseDuration(parsed.limits.max_stall) ?? 15 * 60_000,
      timeoutMs: parseDuration(parsed.limits.timeout) ?? 120_000,
      maxOutageMs: parseDuration(parsed.limits.max_outage) ?? 10 * 60_000,
    },
    budget: {
      confirmAboveUsd: parsed.budget.confirm_above_usd,
      ...(parsed.budget.max_usd === undefined ? {} : { maxUsd: parsed.budget.max_usd }),
      ...(parsed.budget.daily_usd === undefined ? {} : { dailyUsd: parsed.budget.daily_usd }),
    },
    ...(parsed.pool === undefined ? {} : { pool: parsed.pool }),
    ...(parsed.prices === undefined ? {} : { prices: parsed.prices }),
    ...(parsed.results === undefined ? {} : { resultsFile: resolve(dir, typeof parsed.results === 'string' ? parsed.results : parsed.results.file) }),
    ...(typeof parsed.results === 'object' && parsed.results.fields ? { resultsFields: parsed.results.fields } : {}),
    ...(parsed.notify === undefined ? {} : { notify: parsed.notify }),
    batch: {
      minItems: parsed.batch.min_items,
      maxRequests: parsed.batch.max_requests,
      pollMs: parseDuration(parsed.batch.poll) ?? 30_000,
      ...(parsed.batch.staging === undefined ? {} : { staging: parsed.batch.staging }),
    },
    lines: linesOf(lineOf, parsed),
  };
  return job;
}
