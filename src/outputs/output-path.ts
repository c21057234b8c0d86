import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ConfigError } from '../errors/config-error.js';

/**
 * Resolves a rendered output name inside the output folder. A name built from input data
 * (`{{slug}}` = `../../etc/passwd`) must never write outside it.
 */
export function resolveOutputPath(outputDir: string, rendered: string, itemId: string, step: string): string {
  const trimmed = rendered.trim();
  const target = resolve(outputDir, trimmed);
  const rel = relative(outputDir, target);
  if (trimmed === '' || isAbsolute(trimmed) || rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new ConfigError(`Item "${itemId}", step "${step}": output file name "${rendered}" would be outside the output folder ${outputDir}.`, {
      code: 'OUTPUT_OUTSIDE',
      hint: 'Fix the input value used in output.file (a slug with ../ or an absolute path), or skip the item.',
    });
  }
  // Control characters in file names break shells and archives.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  if (/[\u0000-\u001f]/.test(trimmed)) {
    throw new ConfigError(`Item "${itemId}", step "${step}": output file name ${JSON.stringify(rendered)} contains control characters.`, {
      code: 'OUTPUT_NAME_INVALID',
    });
  }
  return target;
}
