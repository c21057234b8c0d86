/**
 * Prompt and file-name templates: `{{column}}`, `{{steps.<step>.<field>}}`, `{{styles.<name>}}`.
 * Deliberately tiny (no logic, no filters): a template names values, it does not compute them, so
 * every variable can be checked against the input columns before any call.
 */

export type TemplateVar =
  { kind: 'column'; name: string; raw: string } | { kind: 'step'; step: string; field: string; raw: string } | { kind: 'style'; name: string; raw: string };

const VAR_PATTERN = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** What a variable (the text between `{{` and `}}`) names. */
function templateVar(raw: string): TemplateVar {
  const parts = raw.split('.');
  if (parts[0] === 'steps' && parts.length >= 3) return { kind: 'step', step: parts[1] ?? '', field: parts.slice(2).join('.'), raw };
  if (parts[0] === 'styles' && parts.length === 2) return { kind: 'style', name: parts[1] ?? '', raw };
  return { kind: 'column', name: raw, raw };
}

export function parseTemplateVars(template: string): TemplateVar[] {
  return [...template.matchAll(VAR_PATTERN)].map((match) => templateVar(match[1] ?? ''));
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

/** A compiled template: text, and variables (a step's field with its path split once). */
type TemplatePart = string | { variable: TemplateVar; path: string[] };

/** Templates split once into text and variables: a million-row job renders each one per row. */
const compiled = new Map<string, TemplatePart[]>();
const MAX_COMPILED = 1024;

function compile(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of template.matchAll(VAR_PATTERN)) {
    if (match.index > last) parts.push(template.slice(last, match.index));
    last = match.index + match[0].length;
    const variable = templateVar((match[1] ?? '').trim());
    parts.push({ variable, path: variable.kind === 'step' ? variable.field.split('.') : [] });
  }
  if (last < template.length) parts.push(template.slice(last));
  return parts;
}

export function renderTemplate(template: string, context: TemplateContext): string {
  let parts = compiled.get(template);
  if (parts === undefined) {
    parts = compile(template);
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(template, parts);
  }
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const { variable } = part;
    const value: unknown =
      variable.kind === 'column'
        ? context.columns[variable.name]
        : variable.kind === 'style'
          ? context.styles[variable.name]
          : lookup(context.steps[variable.step], part.path);
    if (value === undefined || value === null) throw new TemplateValueMissing(variable.raw);
    out += stringify(value);
  }
  return out;
}
