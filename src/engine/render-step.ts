import { createHash } from 'node:crypto';
import type { Job, Step } from '../job/job.js';
import { renderTemplate, type TemplateContext } from '../job/template.js';
import type { ProviderRequest } from '../providers/provider.js';
import type { PostOp } from '../job/schema.js';

/** A step's request for one item, rendered, plus the hash that identifies it for staleness checks. */
export interface RenderedStep {
  request: ProviderRequest;
  promptHash: string;
  outputName?: string;
  /** `output.post` with its templates (overlay text) rendered for this item. */
  post: PostOp[];
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
    ...(step.onTruncated === undefined ? {} : { onTruncated: step.onTruncated }),
  };
  const outputName = step.output ? renderTemplate(step.output.file, context) : undefined;
  const renderedPost: PostOp[] = (step.output?.post ?? []).map((op) =>
    'overlay_text' in op ? { overlay_text: { ...op.overlay_text, text: renderTemplate(op.overlay_text.text, context) } } : op,
  );
  // Everything that shapes what is generated or where it goes; a change makes a done step stale.
  const promptHash = createHash('sha256')
    .update(
      JSON.stringify([
        step.task,
        step.model,
        prompt,
        system ?? null,
        step.jsonSchema ?? null,
        step.params,
        step.maxOutputTokens ?? null,
        step.temperature ?? null,
        outputName ?? null,
        renderedPost,
      ]),
    )
    .digest('hex')
    .slice(0, 32);
  return { request, promptHash, post: renderedPost, ...(outputName === undefined ? {} : { outputName }) };
}
