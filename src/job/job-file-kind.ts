import { readFile } from 'node:fs/promises';
import { parseLocated } from './source-locator.js';

/**
 * Why a YAML or JSON file of a folder is not a job file, or undefined when it is one (or may be:
 * a file that does not parse is taken as a broken job file, so that its error is reported). A job
 * file has `version:` or `steps:` at the top level; a folder of nightly jobs usually also holds the
 * credentials file (`projects:` as a list) or an emulator config (`projects:` as a map).
 */
export async function notAJobFileReason(file: string): Promise<string | undefined> {
  let value: unknown;
  try {
    value = parseLocated(await readFile(file, 'utf8')).value;
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a job file (its top level is not a mapping of keys)';
  const keys = value as Record<string, unknown>;
  if ('steps' in keys || 'version' in keys) return undefined;
  if (Array.isArray(keys.projects)) return 'a credentials file (it lists projects:), not a job file';
  if ('projects' in keys || 'latency_ms' in keys || 'seed' in keys) return 'an emulator config, not a job file';
  return 'not a job file (it has neither version: nor steps: at the top level)';
}
