import { nearestName } from '../errors/suggest-name.js';
import { parseTemplateVars, templateSyntaxProblems } from './template.js';

/**
 * Styles are fixed text a prompt pulls in with {{styles.<name>}}. A style may build on others
 * ({{styles.base}}); they are resolved once, when the job is compiled, so what is sent never holds
 * a `{{…}}` that was meant to be replaced. A loop, an unknown style, a column or a step field inside
 * a style is refused: each would otherwise be sent, and paid for, as literal text.
 */
export interface StyleProblem {
  style: string;
  message: string;
  snippet?: string;
}

const STYLE_REF = /\{\{\s*styles\.([^{}.\s]+)\s*\}\}/g;

export function resolveStyles(styles: Record<string, string>): { resolved: Record<string, string>; problems: StyleProblem[] } {
  const problems: StyleProblem[] = [];
  const names = Object.keys(styles);
  const usable = new Set<string>();
  for (const name of names) {
    const text = styles[name] ?? '';
    const syntax = templateSyntaxProblems(text);
    for (const p of syntax) problems.push({ style: name, message: p.message, snippet: p.snippet });
    let ok = syntax.length === 0;
    for (const variable of parseTemplateVars(text)) {
      if (variable.kind === 'style') {
        if (variable.name in styles) continue;
        const suggestion = nearestName(variable.name, names);
        problems.push({
          style: name,
          message: `{{${variable.raw}}} names a style that is not defined under styles${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
          snippet: `{{${variable.raw}`,
        });
      } else {
        problems.push({
          style: name,
          message: `{{${variable.raw}}}: a style is fixed text and can only pull in other styles; put {{${variable.raw}}} in the step's prompt instead`,
          snippet: `{{${variable.raw}`,
        });
      }
      ok = false;
    }
    if (ok) usable.add(name);
  }

  const resolved: Record<string, string> = {};
  const reported = new Set<string>();
  const resolve = (name: string, chain: string[]): string => {
    const done = resolved[name];
    if (done !== undefined) return done;
    const text = styles[name] ?? '';
    if (chain.includes(name)) {
      const loop = [...chain.slice(chain.indexOf(name)), name];
      // One message per loop, on the first style of it that the file defines.
      const first = names.find((n) => loop.includes(n)) ?? name;
      if (!reported.has(first)) {
        for (const n of loop) reported.add(n);
        problems.push({
          style: first,
          message: `styles refer to each other in a loop (${loop.map((n) => `styles.${n}`).join(' → ')}): none of them can be filled in`,
          snippet: `{{styles.`,
        });
      }
      return text;
    }
    if (!usable.has(name)) return text;
    const out = text.replace(STYLE_REF, (whole, ref: string) => (ref in styles ? resolve(ref, [...chain, name]) : whole));
    resolved[name] = out;
    return out;
  };
  for (const name of names) resolve(name, []);
  return { resolved, problems };
}
