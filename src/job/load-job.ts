import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors/config-error.js';
import { compileJob } from './compile-job.js';
import { displayPath } from './display-path.js';
import type { Job } from './job.js';
import { DocumentSyntaxError, parseLocated } from './source-locator.js';

export { displayPath } from './display-path.js';

/** Reads a YAML or JSON file with positions; errors name the file and line and exit 2. */
export async function readLocatedFile(file: string, what: string): Promise<ReturnType<typeof parseLocated>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${code ?? String(error)})`;
    throw new ConfigError(`${what} ${displayPath(file)} ${reason}.`, {
      file,
      code: 'FILE_UNREADABLE',
      hint: `Check the path; relative paths are resolved from the file that names them.`,
    });
  }
  try {
    return parseLocated(text);
  } catch (error) {
    if (error instanceof DocumentSyntaxError) {
      const where = error.line === undefined ? displayPath(file) : `${displayPath(file)}:${error.line}`;
      throw new ConfigError(`${where}: ${what} is not valid YAML/JSON: ${error.message}`, {
        file,
        ...(error.line === undefined ? {} : { line: error.line }),
        code: 'FILE_SYNTAX',
      });
    }
    throw error;
  }
}

export async function loadJob(file: string): Promise<Job> {
  const located = await readLocatedFile(file, 'Job file');
  // Messages show the path as the person typed it (relative); compileJob resolves it to absolute paths.
  return compileJob(located.value, displayPath(file), located.lineOf);
}
