/**
 * Prompt and file-name templates: `{{column}}`, `{{steps.<step>.<field>}}`, `{{styles.<name>}}`.
 * Deliberately tiny (no logic, no filters): a template names values, it does not compute them, so
 * every variable can be checked against the input columns before any call.
 */

export type TemplateVar =
  { kind: 'column'; name: string; raw: string } | { kind: 'step'; step: string; field: string; raw: string } | { kind: 'style'; name: string; raw: string };

const VAR_PATTERN = /\{\{\s*([^{}]*?)\s*\}\}/g;

export function parseTemplateVars(template: string): TemplateVar[] {
  const vars: TemplateVar[] = [];
  for (const match of template.matchAll(VAR_PATTERN)) {
    const raw = match[1] ?? '';
    const parts = raw.split('.');
    if (parts[0] === 'steps' && parts.length >= 3) {
      vars.push({ kind: 'step', step: parts[1] ?? '', field: parts.slice(2).join('.'), raw });
    } else if (parts[0] === 'styles' && parts.length === 2) {
      vars.push({ kind: 'style', name: parts[1] ?? '', raw });
    } else {
      vars.push({ kind: 'column', name: raw, raw });
    }
  }
  return vars;
}

export interface TemplateContext {
  columns: Record<string, string>;
  /** Results of earlier steps: the parsed JSON object, or `{ text }` for text steps. */
  steps: Record<string, unknown>;
  styles: Record<string, string>;
}

export class TemplateValueMissing extends Error {
  constructor(readonly variable: string) {
    super(`template variable {{${variable}}} has no value`);
  }
}

function lookup(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export function renderTemplate(template: string, context: TemplateContext): string {
  return template.replace(VAR_PATTERN, (_whole, rawName: string) => {
    const name = rawName.trim();
    const parts = name.split('.');
    let value: unknown;
    if (parts[0] === 'steps' && parts.length >= 3) value = lookup(context.steps[parts[1] ?? ''], parts.slice(2));
    else if (parts[0] === 'styles' && parts.length === 2) value = context.styles[parts[1] ?? ''];
    else value = context.columns[name];
    if (value === undefined || value === null) throw new TemplateValueMissing(name);
    return stringify(value);
  });
}
