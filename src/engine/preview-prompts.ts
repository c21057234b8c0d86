import { existsSync } from 'node:fs';
import { openInput } from '../input/index.js';
import { renderTemplate, type TemplateContext } from '../job/template.js';
import { LATE_STATIC_WARN_TOKENS, staticPrefix } from '../job/static-prefix.js';
import { openStateToRead } from '../store/open-state.js';
import type { PreparedJob } from './prepare-job.js';
import { inputOptionsOf } from '../input/index.js';

/** A step's static prefix (src/job/static-prefix.ts): what a context cache can serve, the same for every item. */
export interface PreviewPrefix {
  step: string;
  /** The system instruction and the prompt's fixed text before its first item field, as sent first. */
  text: string;
  /** Its typical token count. */
  tokens: number;
  /** Much fixed text after an item field, which no cache can serve: its tokens, and the field it follows. */
  late?: { after: string; tokens: number };
}

/** Text and JSON steps' static prefixes (images, embeddings and video are not cached). */
export function previewPrefixes(prepared: PreparedJob): PreviewPrefix[] {
  return prepared.job.steps
    .filter((step) => step.task === 'text')
    .map((step) => {
      const prefix = staticPrefix(step, prepared.job.styles);
      return {
        step: step.name,
        text: [prefix.system, prefix.leading].filter((part) => part !== undefined && part !== '').join('\n'),
        tokens: prefix.tokens,
        ...(prefix.late && prefix.late.tokens >= LATE_STATIC_WARN_TOKENS ? { late: { after: prefix.late.after, tokens: prefix.late.tokens } } : {}),
      };
    });
}

export interface PreviewItem {
  id: string;
  line: number;
  steps: { name: string; task: string; model: string; prompt: string; system?: string; output?: string }[];
}

/** Stands in for a field of a step that has not run yet: shows where its value will go. */
function placeholderResult(step: string): Record<string, unknown> {
  return new Proxy({}, { get: (_target, field) => (typeof field === 'string' ? `⟨steps.${step}.${field}⟩` : undefined) });
}

/**
 * The first N items' prompts, rendered exactly as they will be sent. Fields of earlier steps come
 * from the state file when those steps are done, else they are shown as ⟨steps.step.field⟩.
 */
export async function previewPrompts(prepared: PreparedJob, count: number): Promise<PreviewItem[]> {
  const { job } = prepared;
  const store = existsSync(job.stateFile) ? openStateToRead(job.stateFile) : undefined;
  try {
    const items: PreviewItem[] = [];
    const opened = await openInput(inputOptionsOf(job));
    for await (const record of opened.records()) {
      if (items.length >= count) break;
      const id = (record.values[job.input.id] ?? '').trim();
      const done = new Map((store?.itemSteps(id) ?? []).filter((r) => r.state === 'done').map((r) => [r.step, r.result]));
      const context: TemplateContext = { columns: record.values, steps: {}, styles: job.styles };
      const steps: PreviewItem['steps'] = [];
      for (const step of job.steps) {
        steps.push({
          name: step.name,
          task: step.task,
          model: step.model,
          prompt: renderTemplate(step.prompt, context),
          ...(step.system ? { system: renderTemplate(step.system, context) } : {}),
          ...(step.output ? { output: renderTemplate(step.output.file, context) } : {}),
        });
        context.steps[step.name] = done.get(step.name) ?? placeholderResult(step.name);
      }
      items.push({ id, line: record.line, steps });
    }
    return items;
  } finally {
    store?.close();
  }
}
