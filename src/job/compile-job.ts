import { dirname, resolve } from 'node:path';
import { ConfigErrors, type ConfigError } from '../errors/config-error.js';
import { nearestName } from '../errors/suggest-name.js';
import { formatKeyPath, problemsIn, type Problem } from './config-problem.js';
import { parseDuration } from './duration.js';
import { compileChecks } from './compile-checks.js';
import { batchRefusal, stepFields, type Job, type ResultsFormat, type Step } from './job.js';
import { shorthandToSchema } from './json-shorthand.js';
import { jobFileSchema, type JobFile } from './schema.js';
import { validKeysAt } from './schema-keys.js';
import { resolveStyles } from './styles.js';
import { parseTemplateVars, templateSyntaxProblems } from './template.js';
import { zodProblems } from './zod-problems.js';

/** The line of the key at `path`; with `snippet`, the line inside its value where the snippet is written. */
export type LineOf = (path: readonly PropertyKey[], snippet?: string) => number | undefined;

const TEMPLATE_HINT = 'Close every {{ with }}; genbatch has no way to send a literal {{, so reword text that needs one.';

/** Checks that need only the job itself: step names, step references, styles, JSON shorthand. */
function compileSteps(problem: Problem, parsed: JobFile, problems: ConfigError[]): Step[] {
  const steps: Step[] = [];
  const seen = new Map<string, Step>();
  parsed.steps.forEach((raw, index) => {
    const at = (...rest: PropertyKey[]): PropertyKey[] => ['steps', index, ...rest];
    if (seen.has(raw.name)) problems.push(problem(at('name'), `step name "${raw.name}" is used twice`));
    let jsonSchema: Step['jsonSchema'];
    if (raw.json) {
      if (raw.task !== 'text') problems.push(problem(at('json'), `json output is for text steps, not ${raw.task}`));
      try {
        jsonSchema = shorthandToSchema(raw.json, 'json');
      } catch (error) {
        problems.push(problem(at('json'), (error as Error).message));
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
      ...compileChecks(raw, jsonSchema, at, problem, problems),
      ...(raw.context_cache === undefined ? {} : { contextCache: raw.context_cache }),
    };
    if (raw.context_cache === 'on' && step.task !== 'text') {
      problems.push(problem(at('context_cache'), `context_cache applies to text and JSON steps (a Vertex context cache holds text), not ${step.task}`));
    }
    if (raw.on_truncated !== undefined && step.task !== 'text') {
      problems.push(problem(at('on_truncated'), `on_truncated applies to text and JSON steps (a reply cut at max_output_tokens), not ${step.task}`));
    }
    if (step.output && step.task === 'image' && step.output.post.length > 0) {
      // fine: post-processing applies to images
    } else if (step.output && step.output.post.length > 0) {
      problems.push(problem(at('output', 'post'), `post-processing applies to image steps, not ${step.task}`));
    }

    const refusal = step.mode === 'online' ? undefined : batchRefusal(step);
    if (refusal) {
      problems.push(
        problem(at('mode'), `step "${step.name}" cannot run in mode ${step.mode}: ${refusal}`, 'Remove `mode:` (or set mode: online) for this step.'),
      );
    }
    if (step.output?.npy && step.task !== 'embedding') problems.push(problem(at('output', 'npy'), 'a .npy file is for embedding steps'));
    if (step.task === 'embedding' && step.output && parseTemplateVars(step.output.file).some((v) => v.kind !== 'style')) {
      problems.push(
        problem(at('output', 'file'), 'an embedding step writes one JSON Lines file for all items (id, vector): give a plain file name, like embeddings.jsonl'),
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
        problems.push(problem(path, syntax.message, TEMPLATE_HINT, { snippet: syntax.snippet }));
      }
      for (const variable of parseTemplateVars(template)) {
        if (variable.kind === 'style' && !(variable.name in parsed.styles)) {
          const suggestion = nearestName(variable.name, Object.keys(parsed.styles));
          problems.push(
            problem(path, `{{${variable.raw}}} names a style that is not defined under styles${suggestion ? `; did you mean "${suggestion}"?` : ''}`),
          );
        } else if (variable.kind === 'step') {
          const earlier = seen.get(variable.step);
          if (!earlier) {
            problems.push(problem(path, `{{${variable.raw}}} refers to step "${variable.step}", which is not an earlier step of this job`));
          } else {
            const fields = stepFields(earlier);
            const top = variable.field.split('.')[0] ?? '';
            if (!fields.includes(top)) {
              problems.push(problem(path, `{{${variable.raw}}}: step "${variable.step}" has no field "${top}" (it has: ${fields.join(', ')})`));
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

/**
 * The line of every key the job file sets, by key path as checks after compiling name it (steps by
 * name: `steps.hero.params.size`): the problem helper of a compiled job (jobProblem) reads them here.
 */
function linesOf(lineOf: LineOf, raw: unknown, parsed: JobFile): Record<string, number> {
  const lines: Record<string, number> = {};
  const walk = (value: unknown, path: PropertyKey[], shown: PropertyKey[]): void => {
    if (path.length > 0) {
      const line = lineOf(path);
      if (line !== undefined) lines[formatKeyPath(shown)] = line;
    }
    if (Array.isArray(value))
      value.forEach((item, i) => walk(item, [...path, i], path.length === 1 && path[0] === 'steps' ? ['steps', parsed.steps[i]?.name ?? i] : [...shown, i]));
    else if (value !== null && typeof value === 'object') for (const [key, item] of Object.entries(value)) walk(item, [...path, key], [...shown, key]);
  };
  walk(raw, [], []);
  return lines;
}

/** Names a person may write for a results delimiter, as for input.delimiter. */
const NAMED_DELIMITERS: Record<string, string> = { tab: '\t', '\\t': '\t', comma: ',', semicolon: ';', pipe: '|', colon: ':', space: ' ' };

/** `results: { delimiter, bom, columns }`: one character that can separate cells; CSV keys only on a CSV file. Input columns are checked with the input. */
function compileResultsFormat(results: Exclude<JobFile['results'], string | undefined>, problem: Problem, problems: ConfigError[]): ResultsFormat {
  const format: ResultsFormat = {};
  if (results.delimiter !== undefined) {
    const delimiter = NAMED_DELIMITERS[results.delimiter.toLowerCase()] ?? results.delimiter;
    if ([...delimiter].length !== 1 || /["\r\n]/.test(delimiter)) {
      problems.push(
        problem(
          ['results', 'delimiter'],
          `${JSON.stringify(results.delimiter)} is not a delimiter: it must be one character, not a quote or a line break`,
          'Use one character such as ";" (Excel in most European locales), "," or "\\t", or a name: semicolon, comma, tab, pipe.',
        ),
      );
    } else format.delimiter = delimiter;
  }
  if (results.bom !== undefined) format.bom = results.bom;
  if (results.columns !== undefined) format.columns = [...new Set(results.columns)];
  if (results.file.toLowerCase().endsWith('.jsonl')) {
    for (const key of ['delimiter', 'bom'] as const) {
      if (results[key] !== undefined)
        problems.push(
          problem(['results', key], `${key} applies to a CSV results file, not JSON Lines (${results.file})`, `Remove \`${key}:\`, or name a .csv file.`),
        );
    }
  }
  return format;
}

/** Validates and normalises a parsed job file. Throws ConfigErrors listing every problem found. */
export function compileJob(raw: unknown, file: string, lineOf: LineOf = () => undefined): Job {
  const problem = problemsIn({ file, lineOf: (keyPath, snippet) => (typeof keyPath === 'string' ? undefined : lineOf(keyPath, snippet)) });
  const result = jobFileSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigErrors(
      zodProblems(result.error, {
        problem,
        validKeys: (path) => validKeysAt(jobFileSchema, path),
        union: 'not a valid value here (see `genbatch schema` for the accepted forms)',
      }),
    );
  }
  const parsed = result.data;
  const problems: ConfigError[] = [];
  const styles = resolveStyles(parsed.styles);
  for (const p of styles.problems) problems.push(problem(['styles', p.style], p.message, undefined, { snippet: p.snippet }));
  const steps = compileSteps(problem, parsed, problems);
  const format = typeof parsed.results === 'object' ? compileResultsFormat(parsed.results, problem, problems) : undefined;
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
      ...(parsed.budget.per_run_usd === undefined ? {} : { perRunUsd: parsed.budget.per_run_usd }),
      ...(parsed.budget.daily_usd === undefined ? {} : { dailyUsd: parsed.budget.daily_usd }),
    },
    ...(parsed.pool === undefined ? {} : { pool: parsed.pool }),
    ...(parsed.prices === undefined ? {} : { prices: parsed.prices }),
    ...(parsed.results === undefined ? {} : { resultsFile: resolve(dir, typeof parsed.results === 'string' ? parsed.results : parsed.results.file) }),
    ...(typeof parsed.results === 'object' && parsed.results.fields ? { resultsFields: parsed.results.fields } : {}),
    ...(format === undefined ? {} : { resultsFormat: format }),
    ...(parsed.notify === undefined ? {} : { notify: parsed.notify }),
    batch: {
      minItems: parsed.batch.min_items,
      maxRequests: parsed.batch.max_requests,
      pollMs: parseDuration(parsed.batch.poll) ?? 30_000,
      ...(parsed.batch.staging === undefined ? {} : { staging: parsed.batch.staging }),
    },
    lines: linesOf(lineOf, raw, parsed),
  };
  return job;
}
