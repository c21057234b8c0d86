import { displayPath } from '../job/display-path.js';

/** "1 blank line", "2 blank lines". */
export function blankLines(n: number): string {
  return `${n} blank ${n === 1 ? 'line' : 'lines'}`;
}

/** The input summary's note on skipped blank lines (validate, run), or undefined when there were none. */
export function blankLinesNote(inputFile: string, n: number | undefined): string | undefined {
  if (n === undefined || n === 0) return undefined;
  return `${displayPath(inputFile)}: ${blankLines(n)} skipped (empty or only delimiters; they hold no row).`;
}
