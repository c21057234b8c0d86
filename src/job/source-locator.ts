import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

/**
 * Parses YAML (and JSON, which the YAML parser reads too) keeping positions, so an error at a key
 * path can name the line where the person wrote it.
 */
export interface LocatedDocument {
  value: unknown;
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

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

  return {
    value: doc.toJS(),
    lineOf(path) {
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
      return line;
    },
  };
}
