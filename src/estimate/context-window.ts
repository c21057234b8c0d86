import type { Job, Step } from '../job/job.js';
import { parseTemplateVars, renderTemplate, TemplateValueMissing, type TemplateContext } from '../job/template.js';
import { PriceCatalog } from './price-catalog.js';
import { heuristicTokens } from './token-counter.js';

/**
 * Prompts longer than the model's context window (the catalog's `input_token_limit`), found before
 * any call: Vertex AI answers them 400 INVALID_ARGUMENT, so each would be a request sure to fail.
 * Tokens are counted with heuristicTokens, which never falls short of Gemini's count, and only on
 * what is known before the run: the fields of earlier steps count as empty, so a prompt flagged
 * here is too long whatever those steps answer.
 */

/** A stand-in for an earlier step's result: every field renders empty. */
const EMPTY_RESULT = new Proxy({}, { get: () => '' });

/**
 * heuristicTokens counts at most two tokens per UTF-16 unit (an emoji's 4 UTF-8 bytes over its 2
 * units; everything else one or less): a text shorter than half the window cannot exceed it.
 */
const MAX_TOKENS_PER_UNIT = 2;

interface Checked {
  step: Step;
  limit: number;
  /** Tokens of the parts that are the same for every row (the JSON schema). */
  fixed: number;
  /** Characters of the templates and their styles: with the columns' values, an upper bound of the prompt's length. */
  staticChars: number;
  /** The columns the prompt and system instruction name (once per use). */
  columns: string[];
}

export interface ContextOverflow {
  step: string;
  model: string;
  tokens: number;
  limit: number;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

export function describeOverflow(o: ContextOverflow): string {
  return `the prompt of step "${o.step}" counts up to ${fmt(o.tokens)} tokens, above the ${fmt(o.limit)}-token context window of ${o.model}`;
}

/** Builds the check for a job's steps; undefined when no step has a known window. */
export function contextWindowCheck(job: Job, catalog: PriceCatalog = PriceCatalog.load(job.prices)): ContextWindowCheck | undefined {
  const checked: Checked[] = [];
  for (const step of job.steps) {
    const limit = catalog.inputTokenLimit(step.model);
    if (limit === undefined) continue;
    // Embeddings longer than the window are truncated by Vertex unless the step turns that off.
    if (step.task === 'embedding' && step.params.auto_truncate !== false) continue;
    const vars = parseTemplateVars(step.prompt + (step.system ?? ''));
    checked.push({
      step,
      limit,
      fixed: step.jsonSchema ? heuristicTokens(JSON.stringify(step.jsonSchema)) : 0,
      staticChars: step.prompt.length + (step.system?.length ?? 0) + vars.reduce((n, v) => n + (v.kind === 'style' ? (job.styles[v.name]?.length ?? 0) : 0), 0),
      columns: vars.flatMap((v) => (v.kind === 'column' ? [v.name] : [])),
    });
  }
  return checked.length === 0 ? undefined : new ContextWindowCheck(job, checked);
}

/** Checks rows one by one and counts those over a window, for one summary line. */
export class ContextWindowCheck {
  private overRows = 0;
  private readonly models = new Map<string, number>();

  constructor(
    private readonly job: Job,
    private readonly steps: readonly Checked[],
  ) {}

  /** The steps whose prompt for this row is over its model's window. */
  row(columns: Record<string, string>): ContextOverflow[] {
    let context: TemplateContext | undefined;
    const over: ContextOverflow[] = [];
    for (const { step, limit, fixed, staticChars, columns: names } of this.steps) {
      // Most rows are far below the window: a bound on the length settles it without rendering.
      let chars = staticChars;
      for (const name of names) chars += columns[name]?.length ?? 0;
      if (chars * MAX_TOKENS_PER_UNIT + fixed < limit) continue;
      if (!context) {
        context = { columns, steps: {}, styles: this.job.styles };
        for (const s of this.job.steps) context.steps[s.name] = EMPTY_RESULT;
      }
      let prompt: string;
      let system: string;
      try {
        prompt = renderTemplate(step.prompt, context);
        system = step.system === undefined ? '' : renderTemplate(step.system, context);
      } catch (error) {
        if (error instanceof TemplateValueMissing) continue; // reported by the checks of columns
        throw error;
      }
      if ((prompt.length + system.length) * MAX_TOKENS_PER_UNIT + fixed < limit) continue;
      const tokens = heuristicTokens(prompt) + (system === '' ? 0 : heuristicTokens(system)) + fixed;
      if (tokens > limit) {
        over.push({ step: step.name, model: step.model, tokens, limit });
        this.models.set(step.model, limit);
      }
    }
    if (over.length > 0) this.overRows += 1;
    return over;
  }

  /** One line saying how many of the rows are over, and what to do; undefined when none is. */
  summary(rows: number): string | undefined {
    if (this.overRows === 0) return undefined;
    const windows = [...this.models].map(([model, limit]) => `${model}: ${fmt(limit)} tokens`).join(', ');
    return (
      `${fmt(this.overRows)} of ${fmt(rows)} row(s) have a prompt longer than the model's context window (${windows}); Vertex AI refuses such requests, so none was sent. ` +
      `Shorten those rows or leave them out of the input, or use a model with a larger window ` +
      `(tokens are counted so as never to fall short of Gemini's count; if you know these prompts fit, give the model a higher input_token_limit under prices: in the job file, with its prices):`
    );
  }
}
