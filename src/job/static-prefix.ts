import { typicalTokens } from '../providers/token-heuristics.js';
import type { Step } from './job.js';
import { parseTemplateVars, renderTemplate, type TemplateVar } from './template.js';

/**
 * The part of a step's request that is the same for every item: the system instruction when it
 * names no item field, then the prompt's fixed text (styles filled in) before its first item field
 * (a column or an earlier step's field). Vertex serves a request's leading part from a context cache
 * (implicit or explicit, issue 29), so only this prefix can be cached; genbatch sends it first
 * (system instruction, then the prompt as written) and never moves text across an item field, which
 * would change what the model reads. Fixed text after an item field is reported so that the author
 * can reorder it (validate warns).
 */
export interface StaticPrefix {
  /** The system instruction, when it names no item field (rendered with its styles). */
  system?: string;
  /** The prompt's fixed text before its first item field (all of it when it names none). */
  leading: string;
  /** Tokens of `system` and `leading` together (typical count, src/providers/token-heuristics.ts). */
  tokens: number;
  /** Fixed text that comes after an item field, which no cache can serve. */
  late?: LateStatic;
}

export interface LateStatic {
  /** Where it is: the prompt, or a system instruction that names an item field. */
  where: 'prompt' | 'system';
  /** The first item field it follows, as written (`{{title}}`). */
  after: string;
  /** The styles it pulls in, as written (`{{styles.guide}}`). */
  styles: string[];
  tokens: number;
}

/** Fixed text after an item field from this size on is worth a warning (a cache needs 2,048 tokens at least). */
export const LATE_STATIC_WARN_TOKENS = 1024;

/** The minimum prefix Vertex caches (implicit caching, and the least an explicit cache may hold). */
export const MIN_CACHE_TOKENS = 2048;

const VAR = /\{\{\s*([^{}]*?)\s*\}\}/g;

function isItemField(variable: TemplateVar): boolean {
  return variable.kind !== 'style';
}

/** A template split at its first item field: the fixed text before, and what follows (undefined when it names none). */
function splitAtFirstItemField(template: string): { before: string; field?: string; after?: string } {
  for (const match of template.matchAll(VAR)) {
    const [variable] = parseTemplateVars(match[0]);
    if (variable && isItemField(variable)) {
      return { before: template.slice(0, match.index), field: match[0], after: template.slice(match.index + match[0].length) };
    }
  }
  return { before: template };
}

/** The fixed text (styles filled in) of a template's part, with its item fields left out. */
function fixedText(template: string, styles: Record<string, string>): { text: string; styles: string[] } {
  const used: string[] = [];
  const text = template.replace(VAR, (whole: string) => {
    const [variable] = parseTemplateVars(whole);
    if (!variable || isItemField(variable)) return '';
    used.push(whole);
    return variable.kind === 'style' ? (styles[variable.name] ?? '') : '';
  });
  return { text, styles: used };
}

function renderFixed(template: string, styles: Record<string, string>): string {
  return renderTemplate(template, { columns: {}, steps: {}, styles });
}

export function staticPrefix(step: Pick<Step, 'prompt' | 'system'>, styles: Record<string, string>): StaticPrefix {
  const system = step.system === undefined || step.system === '' ? undefined : splitAtFirstItemField(step.system);
  if (system?.field !== undefined) {
    // The system instruction comes first and names an item field: nothing after that field is the same for every item.
    const leading = renderFixed(system.before, styles);
    const rest = fixedText(`${system.after ?? ''}\n${step.prompt}`, styles);
    const lateTokens = typicalTokens(rest.text);
    return {
      leading: '',
      tokens: typicalTokens(leading),
      ...(lateTokens > 0 ? { late: { where: 'system', after: system.field, styles: unique(rest.styles), tokens: lateTokens } } : {}),
    };
  }
  const systemText = system === undefined ? undefined : renderFixed(system.before, styles);
  const prompt = splitAtFirstItemField(step.prompt);
  const leading = renderFixed(prompt.before, styles);
  const tokens = (systemText === undefined ? 0 : typicalTokens(systemText)) + typicalTokens(leading);
  const late = prompt.field === undefined ? undefined : fixedText(prompt.after ?? '', styles);
  const lateTokens = late === undefined ? 0 : typicalTokens(late.text.trim());
  return {
    ...(systemText === undefined ? {} : { system: systemText }),
    leading,
    tokens,
    ...(late && prompt.field && lateTokens > 0 ? { late: { where: 'prompt', after: prompt.field, styles: unique(late.styles), tokens: lateTokens } } : {}),
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/**
 * Validate's warning for fixed text placed after an item field, with how to reorder it; undefined
 * when there is little of it.
 */
export function lateStaticWarning(step: Pick<Step, 'name' | 'prompt' | 'system'>, styles: Record<string, string>): string | undefined {
  const { late, tokens } = staticPrefix(step, styles);
  if (!late || late.tokens < LATE_STATIC_WARN_TOKENS) return undefined;
  const what = late.styles.length > 0 ? `fixed text (${late.styles.join(', ')})` : 'fixed text';
  const fix =
    late.where === 'system'
      ? `move ${late.after} out of system: into the prompt, so that the system instruction is the same for every item`
      : late.styles.length > 0
        ? `move ${late.styles.join(', ')} before ${late.after} in prompt:, or into system:`
        : `move the fixed text before ${late.after} in prompt:, or into system:`;
  return `${step.name}: about ${late.tokens.toLocaleString('en-US')} tokens of ${what} come after the item field ${late.after} in ${late.where}:, so no context cache can serve them (a cache serves only the part of a request before the first item field; the fixed part before it is about ${tokens.toLocaleString('en-US')} tokens). To pay the cached price for it, ${fix} (docs/cost-control.md#context-caching).`;
}

/**
 * `context_cache: on` where no cache can be made: a static prefix under Vertex's minimum, or a model
 * with no cache price. The run then sends the prefix with every request, so validate says so.
 */
export function cacheOnWarning(
  step: Pick<Step, 'name' | 'prompt' | 'system' | 'contextCache' | 'model'>,
  styles: Record<string, string>,
  priced: boolean,
): string | undefined {
  if (step.contextCache !== 'on') return undefined;
  if (!priced)
    return `${step.name}: context_cache: on, but ${step.model} has no context-cache price, so no cache will be made and the static prefix goes with every request (docs/cost-control.md#context-caching).`;
  const { tokens } = staticPrefix(step, styles);
  if (tokens >= MIN_CACHE_TOKENS) return undefined;
  return `${step.name}: context_cache: on, but the static prefix (the system instruction and the fixed text before the first item field) is about ${tokens.toLocaleString('en-US')} tokens, under the ${MIN_CACHE_TOKENS.toLocaleString('en-US')} Vertex caches at least: no cache will be made. Put the long fixed text (a style guide, examples) before the first item field, or set context_cache: auto (docs/cost-control.md#context-caching).`;
}
