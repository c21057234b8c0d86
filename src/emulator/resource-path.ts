/** A Vertex resource path, `…/projects/P/locations/L/<collection>[/ID]`, with its parts decoded. */
export interface ResourcePath {
  project: string;
  location: string;
  /** Empty for the collection itself (create, list). */
  id: string;
  /** The whole match, for what a pattern captures after the id (a `:cancel`). */
  match: RegExpExecArray;
}

/**
 * Matches `pattern` (capturing project, location and an optional id, in that order) and decodes the
 * three parts; undefined when it does not match or a part is badly %-escaped (answered 404, as Vertex does).
 */
export function matchResourcePath(pattern: RegExp, pathname: string): ResourcePath | undefined {
  const match = pattern.exec(pathname);
  if (!match) return undefined;
  try {
    const [project = '', location = '', id = ''] = match.slice(1, 4).map((part) => (part === undefined ? '' : decodeURIComponent(part)));
    return { project, location, id, match };
  } catch {
    return undefined;
  }
}
