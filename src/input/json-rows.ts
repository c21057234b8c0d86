import type { Problem } from './problem.js';
import type { ScannedRow } from './scanned-row.js';

/** Templates see text: strings stay as they are, null is empty, numbers and booleans are printed, objects are JSON. */
export function jsonValues(object: Record<string, unknown>): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(object)) {
    values[key] =
      typeof value === 'string' ? value : value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return values;
}

export function parseObject(text: string): { object: Record<string, unknown> } | { error: 'invalid_json' | 'not_an_object'; detail: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: 'invalid_json', detail: (error as Error).message };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const what = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    return { error: 'not_an_object', detail: what };
  }
  return { object: value as Record<string, unknown> };
}

/** One JSON Lines line or JSON array element, checked against the keys the sample showed. */
export function jsonRow(line: number, text: string, columns: readonly string[], requiredKeys: readonly string[]): ScannedRow {
  const parsed = parseObject(text);
  if ('error' in parsed) {
    const message =
      parsed.error === 'invalid_json' ? `the row is not valid JSON (${parsed.detail}).` : `the row is ${parsed.detail}, not an object with one key per column.`;
    return { line, problem: { line, kind: parsed.error, cells: 0, expected: columns.length, message } };
  }
  const keys = Object.keys(parsed.object);
  const missing = requiredKeys.filter((k) => !Object.hasOwn(parsed.object, k));
  if (missing.length > 0) {
    const problem: Problem = {
      line,
      kind: 'missing_keys',
      cells: keys.length,
      expected: columns.length,
      message: `the object has no ${missing.map((k) => `"${k}"`).join(', ')}, which nearly every other row has.`,
    };
    return { line, problem };
  }
  let values: Record<string, string>;
  try {
    values = jsonValues(parsed.object);
  } catch (error) {
    // JSON.parse accepts nesting deeper than JSON.stringify can print back (a stack overflow).
    if (!(error instanceof RangeError)) throw error;
    const message = `the row nests arrays or objects too deeply to be passed on as text (${error.message}).`;
    return { line, problem: { line, kind: 'invalid_json', cells: keys.length, expected: columns.length, message } };
  }
  // Optional keys a row leaves out read as empty, like an empty cell.
  for (const column of columns) values[column] ??= '';
  return { line, values };
}
