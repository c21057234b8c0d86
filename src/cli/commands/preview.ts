import { prepareJob } from '../../engine/prepare-job.js';
import { previewPrompts } from '../../engine/preview-prompts.js';
import { displayPath } from '../../job/load-job.js';
import { line, type CliIO } from '../io.js';

/** `genbatch preview JOB [--n 5] [--json]`: what will be sent, before anything is. */
export async function previewCommand(jobFile: string, flags: { n: number; json?: boolean }, io: CliIO): Promise<number> {
  const prepared = await prepareJob(jobFile, { emulated: true });
  const items = await previewPrompts(prepared, flags.n);
  if (flags.json) {
    line(io.stdout, JSON.stringify(items, null, 2));
    return 0;
  }
  const input = displayPath(prepared.job.input.file);
  for (const item of items) {
    line(io.stdout, `── ${item.id} (${input}:${item.line})`);
    for (const step of item.steps) {
      line(io.stdout, `  [${step.name}] ${step.task} · ${step.model}${step.output ? ` → ${step.output}` : ''}`);
      if (step.system) line(io.stdout, `    system: ${step.system.replace(/\n/g, '\n            ')}`);
      line(io.stdout, `    ${step.prompt.trimEnd().replace(/\n/g, '\n    ')}`);
    }
  }
  line(io.stderr, `${items.length} of ${prepared.rows} items shown; nothing was sent.`);
  return 0;
}
