/**
 * The shape of one cell, coarse on purpose: enough to tell a slug from a title, a number from a word.
 * Dialect detection, header detection and the repair proposal all compare columns by these.
 */
/** `date` also covers times of day, `url` e-mail addresses: values, never a header word. */
export type CellType = 'empty' | 'integer' | 'decimal' | 'boolean' | 'date' | 'url' | 'token' | 'text';

export const CELL_TYPES: readonly CellType[] = ['empty', 'integer', 'decimal', 'boolean', 'date', 'url', 'token', 'text'];

/** Types whose values look alike, so a header word among them stands out. */
export const VALUE_TYPES: ReadonlySet<CellType> = new Set(['integer', 'decimal', 'boolean', 'date', 'url']);

const INTEGER = /^[+-]?\d{1,3}([ .,’']\d{3})*$|^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+[.,]\d*|[.,]\d+|\d+(?=[eE]))([eE][+-]?\d+)?%?$/;
const BOOLEAN = /^(true|false|yes|no|y|n|oui|non|ja|nein)$/i;
const TIME = /^\d{1,2}:\d{2}(:\d{2})?( ?[AaPp]\.?[Mm]\.?)?$/;
const DATE = /^(\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}( \d{1,2}:\d{2}(:\d{2})?)?)$/;
const URL_LIKE = /^(https?|ftp|gs|s3):\/\/\S+$/i;
const EMAIL = /^[^\s@"',;]+@[^\s@"',;]+\.[a-z]{2,}$/i;
const WHITESPACE = /\s/;

export function cellType(value: string): CellType {
  const v = value.trim();
  if (v === '') return 'empty';
  if (INTEGER.test(v)) return 'integer';
  if (DECIMAL.test(v)) return 'decimal';
  if (BOOLEAN.test(v)) return 'boolean';
  if (DATE.test(v) || TIME.test(v)) return 'date';
  if (URL_LIKE.test(v) || EMAIL.test(v)) return 'url';
  return WHITESPACE.test(v) ? 'text' : 'token';
}

/** Leading or trailing whitespace: rare in clean data, typical of a cell cut at `a | b`. */
export function isPadded(value: string): boolean {
  return value.length > 0 && (WHITESPACE.test(value[0]!) || WHITESPACE.test(value[value.length - 1]!));
}
