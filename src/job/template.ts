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

/** A `{{` that opens no variable, or a variable with no name: sent as it is, it would be paid for as literal text. */
export interface TemplateSyntaxProblem {
  message: string;
  /** The text at fault, as written (for finding its line). */
  snippet: string;
}

const MAX_SYNTAX_PROBLEMS = 5;

export function templateSyntaxProblems(template: string): TemplateSyntaxProblem[] {
  const problems: TemplateSyntaxProblem[] = [];
  for (const match of template.matchAll(VAR_PATTERN)) {
    if ((match[1] ?? '') === '')
      problems.push({ message: `${match[0]} is an empty variable: write a column, {{steps.<step>.<field>}} or {{styles.<name>}}`, snippet: match[0] });
  }
  // Blank out the well-formed variables (keeping offsets): any `{{` left over opens nothing.
  const rest = template.replace(VAR_PATTERN, (whole) => ' '.repeat(whole.length));
  for (let at = rest.indexOf('{{'); at !== -1 && problems.length < MAX_SYNTAX_PROBLEMS; at = rest.indexOf('{{', at + 2)) {
    const lineEnd = template.indexOf('\n', at);
    const snippet = template.slice(at, Math.min(lineEnd === -1 ? template.length : lineEnd, at + 30));
    const closes = rest.indexOf('}}', at + 2);
    const message =
      closes === -1 || (lineEnd !== -1 && closes > lineEnd)
        ? `"${snippet}" opens a variable that is never closed with }}`
        : `"${snippet}" is not a variable: a variable is {{name}} with no braces inside`;
    problems.push({ message: `${message} (variables are written {{column}}, {{steps.<step>.<field>}} or {{styles.<name>}})`, snippet });
  }
  return problems;
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
