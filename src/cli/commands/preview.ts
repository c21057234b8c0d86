import { prepareJob } from '../../engine/prepare-job.js';
import { previewPrefixes, previewPrompts, type PreviewPrefix } from '../../engine/preview-prompts.js';
import { displayPath } from '../../job/load-job.js';
import { line, type CliIO } from '../io.js';

/** `genbatch preview JOB [--n 5] [--json]`: what will be sent, before anything is. */
export async function previewCommand(jobFile: string, flags: { n: number; json?: boolean }, io: CliIO): Promise<number> {
  const prepared = await prepareJob(jobFile, { emulated: true });
  const items = await previewPrompts(prepared, flags.n);
  const prefixes = previewPrefixes(prepared);
  if (flags.json) {
    // Items stay the top-level array (scripts read it); the static prefixes are on stderr's summary line.
    line(io.stdout, JSON.stringify(items, null, 2));
    for (const p of prefixes) line(io.stderr, staticLine(p));
    return 0;
  }
  for (const p of prefixes) {
    line(io.stdout, staticLine(p));
    if (p.text !== '') line(io.stdout, `    ${clip(p.text).replace(/\n/g, '\n    ')}`);
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

/** One step's static prefix: sent first, the same for every item, what a context cache serves (docs/cost-control.md). */
function staticLine(p: PreviewPrefix): string {
  const late = p.late ? `; about ${p.late.tokens.toLocaleString('en-US')} more tokens of fixed text come after ${p.late.after} and cannot be cached` : '';
  return `[${p.step}] static prefix: about ${p.tokens.toLocaleString('en-US')} tokens, the same for every item and sent first${late}`;
}

/** A long prefix shown by its start and end. */
function clip(text: string): string {
  const flat = text.trimEnd();
  if (flat.length <= 400) return flat;
  return `${flat.slice(0, 200)} … (${(flat.length - 400).toLocaleString('en-US')} characters) … ${flat.slice(-200)}`;
}
