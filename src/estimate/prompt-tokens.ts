import type { Job } from '../job/job.js';
import { parseTemplateVars, renderTemplate, type TemplateContext } from '../job/template.js';
import type { TokenCounter } from './token-counter.js';

/** A stand-in for an earlier step's result: its fields render empty; their size is added separately. */
const EMPTY_RESULT = new Proxy({}, { get: () => '' });

/** Prompt tokens per step summed over the sampled rows, and how many rows were sampled. */
export interface PromptTokens {
  byStep: Map<string, number>;
  sampled: number;
}

/**
 * Counts each step's prompt (and system instruction, and JSON schema) on every sampled row. An
 * earlier step's fields render empty; its expected output (spread over its fields) is added instead.
 */
export async function countPromptTokens(
  job: Pick<Job, 'steps' | 'styles'>,
  rows: Iterable<Record<string, string>> | AsyncIterable<Record<string, string>>,
  counter: TokenCounter,
  expectedOutput: ReadonlyMap<string, number>,
): Promise<PromptTokens> {
  const byStep = new Map(job.steps.map((s) => [s.name, 0]));
  let sampled = 0;
  for await (const values of rows) {
    sampled += 1;
    const context: TemplateContext = { columns: values, steps: {}, styles: job.styles };
    for (const step of job.steps) context.steps[step.name] = EMPTY_RESULT;
    for (const step of job.steps) {
      const tokens = withEarlierOutput(await counter.count(step.model, promptText(step, context)), job, step, expectedOutput);
      byStep.set(step.name, (byStep.get(step.name) ?? 0) + tokens);
    }
  }
  return { byStep, sampled };
}

function promptText(step: Job['steps'][number], context: TemplateContext): string {
  return (
    renderTemplate(step.prompt, context) + (step.system ? renderTemplate(step.system, context) : '') + (step.jsonSchema ? JSON.stringify(step.jsonSchema) : '')
  );
}

/** Adds the expected size of the earlier steps' fields the prompt names (a step's output spread over its fields). */
function withEarlierOutput(counted: number, job: Pick<Job, 'steps'>, step: Job['steps'][number], expectedOutput: ReadonlyMap<string, number>): number {
  let tokens = counted;
  for (const v of parseTemplateVars(step.prompt + (step.system ?? ''))) {
    if (v.kind !== 'step') continue;
    const source = job.steps.find((s) => s.name === v.step);
    const fields = Math.max(1, Object.keys((source?.jsonSchema?.properties as object | undefined) ?? {}).length);
    tokens += (expectedOutput.get(v.step) ?? 0) / fields;
  }
  return tokens;
}
