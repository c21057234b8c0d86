import { createHash } from 'node:crypto';
import type { Job, Step } from '../job/job.js';
import { renderTemplate, type TemplateContext } from '../job/template.js';
import type { ProviderRequest } from '../providers/provider.js';

/** A step's request for one item, rendered, plus the hash that identifies it for staleness checks. */
export interface RenderedStep {
  request: ProviderRequest;
  promptHash: string;
  outputName?: string;
}

export function renderStep(job: Job, step: Step, context: TemplateContext): RenderedStep {
  const prompt = renderTemplate(step.prompt, context);
  const system = step.system === undefined ? undefined : renderTemplate(step.system, context);
  const request: ProviderRequest = {
    task: step.task,
    model: step.model,
    prompt,
    params: step.params,
    timeoutMs: step.timeoutMs,
    ...(step.task === 'embedding' ? { texts: [prompt] } : {}),
    ...(system === undefined ? {} : { system }),
    ...(step.jsonSchema === undefined ? {} : { jsonSchema: step.jsonSchema }),
    ...(step.maxOutputTokens === undefined ? {} : { maxOutputTokens: step.maxOutputTokens }),
    ...(step.temperature === undefined ? {} : { temperature: step.temperature }),
  };
  const promptHash = createHash('sha256')
    .update(JSON.stringify([job.name, step.name, step.task, step.model, prompt, system ?? null, step.jsonSchema ?? null, step.params, step.maxOutputTokens ?? null, step.temperature ?? null, step.output ?? null]))
    .digest('hex')
    .slice(0, 32);
  return {
    request,
    promptHash,
    ...(step.output ? { outputName: renderTemplate(step.output.file, context) } : {}),
  };
}

/** Hash of an input row: tells a resume when the input changed under a done item. */
export function rowHash(values: Record<string, string>): string {
  return createHash('sha256').update(JSON.stringify(values)).digest('hex').slice(0, 32);
}
