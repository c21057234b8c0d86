import { relative } from 'node:path';

/** How a path is shown in messages: relative to where the person is, when that is shorter. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && rel.length < file.length ? rel : file;
}
