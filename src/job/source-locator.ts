import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

/**
 * Parses YAML (and JSON, which the YAML parser reads too) keeping positions, so an error at a key
 * path can name the line where the person wrote it.
 */
export interface LocatedDocument {
  value: unknown;
  /**
   * The line of the key at `path`. With `snippet`, the line inside that key's value where the
   * snippet is written (a multi-line prompt names the line of the fault, not of `prompt:`).
   */
  lineOf(path: readonly PropertyKey[], snippet?: string): number | undefined;
}

/**
 * Aliases (`*name`) a file may expand. A job or credentials file has no use for many; thousands are
 * a "billion laughs" document that would take gigabytes to build.
 */
const MAX_ALIAS_COUNT = 100;

export class DocumentSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number | undefined,
  ) {
    super(message);
  }
}

export function parseLocated(text: string): LocatedDocument {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError) {
    const offset = firstError.pos[0];
    throw new DocumentSyntaxError(firstError.message.split('\n')[0] ?? 'syntax error', lineCounter.linePos(offset).line);
  }
  const lineAt = (offset: number | undefined): number | undefined => (offset === undefined ? undefined : lineCounter.linePos(offset).line);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // The yaml package's guard against alias bombs throws a ReferenceError from toJS.
    if (error instanceof ReferenceError && /alias/i.test(error.message)) {
      const firstAlias = /(^|[\s[{,:])\*[^\s,\]}]+/m.exec(text);
      throw new DocumentSyntaxError(
        `its aliases (*name) expand to more than ${MAX_ALIAS_COUNT} copies, which looks like a "billion laughs" document; write the values out instead of nesting aliases`,
        firstAlias ? lineCounter.linePos(firstAlias.index + (firstAlias[1] ?? '').length).line : undefined,
      );
    }
    throw error;
  }

  /** The line of `snippet` inside the source range of `node`, if it is written there as it is. */
  const lineInside = (node: unknown, snippet: string): number | undefined => {
    const range = (node as Node | null)?.range;
    if (!range) return undefined;
    const at = text.slice(range[0], range[2]).indexOf(snippet);
    return at === -1 ? undefined : lineAt(range[0] + at);
  };

  return {
    value,
    lineOf(path, snippet) {
      let node: unknown = doc.contents;
      let line = lineAt((node as Node | null)?.range?.[0]);
      for (const key of path) {
        if (isMap(node)) {
          const pair = node.items.find((item) => {
            const k = item.key as { value?: unknown } | null;
            return k !== null && typeof k === 'object' ? String(k.value) === String(key) : String(item.key) === String(key);
          });
          if (!pair) return line;
          line = lineAt((pair.key as Node | null)?.range?.[0]) ?? line;
          node = pair.value;
        } else if (isSeq(node) && typeof key === 'number') {
          node = node.items[key];
          line = lineAt((node as Node | null)?.range?.[0]) ?? line;
        } else {
          return line;
        }
      }
      return (snippet === undefined ? undefined : lineInside(node, snippet)) ?? line;
    },
  };
}
