import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ConfigError } from '../errors/config-error.js';

// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL_CHARS = /[\u0000-\u001f]/;

/**
 * Resolves a rendered output name inside the output folder. A name built from input data
 * (`{{slug}}` = `../../etc/passwd`) must never write outside it.
 */
export function resolveOutputPath(outputDir: string, rendered: string, itemId: string, step: string): string {
  const trimmed = rendered.trim();
  if (plainRelative(outputDir, trimmed)) return `${outputDir}/${trimmed}`;
  const target = resolve(outputDir, trimmed);
  const rel = relative(outputDir, target);
  if (trimmed === '' || isAbsolute(trimmed) || rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new ConfigError(`Item "${itemId}", step "${step}": output file name "${rendered}" would be outside the output folder ${outputDir}.`, {
      code: 'OUTPUT_OUTSIDE',
      hint: 'Fix the input value used in output.file (a slug with ../ or an absolute path), or skip the item.',
    });
  }
  // Control characters in file names break shells and archives.
  if (CONTROL_CHARS.test(trimmed)) {
    throw new ConfigError(`Item "${itemId}", step "${step}": output file name ${JSON.stringify(rendered)} contains control characters.`, {
      code: 'OUTPUT_NAME_INVALID',
    });
  }
  return target;
}

/** Output folders known to be absolute and normalised (resolve would leave them as they are). */
const normalisedDirs = new Set<string>();

/**
 * Whether `name` is a plain relative path on POSIX: no empty, `.` or `..` segment, no control
 * character. Its resolved path is then the folder, a slash and the name, with no call to resolve
 * and relative for each of a million rows.
 */
function plainRelative(outputDir: string, name: string): boolean {
  if (sep !== '/' || name === '' || name.charCodeAt(0) === 0x2f) return false;
  if (!normalisedDirs.has(outputDir)) {
    if (outputDir === '/' || resolve(outputDir) !== outputDir) return false;
    normalisedDirs.add(outputDir);
  }
  let start = 0;
  for (;;) {
    const end = name.indexOf('/', start);
    const length = (end === -1 ? name.length : end) - start;
    if (length === 0) return false;
    if (name.charCodeAt(start) === 0x2e && (length === 1 || (length === 2 && name.charCodeAt(start + 1) === 0x2e))) return false;
    if (end === -1) break;
    start = end + 1;
  }
  return !CONTROL_CHARS.test(name);
}
