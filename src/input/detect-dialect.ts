import { buildProfiles } from './column-profile.js';
import type { Dialect } from './csv-dialect.js';
import { splitSample, type SampleRows } from './sample-rows.js';

/** Delimiters tried first, in the order ties are broken. */
const PREFERRED = [',', '\t', ';', '|', ':'];
const QUOTES = ['"', "'"];

export interface DetectedDialect {
  dialect: Dialect;
  /** The sample split with that dialect (non-blank rows, header included). */
  sample: SampleRows;
  /** Cells per row most rows have. */
  width: number;
}

interface Scored extends DetectedDialect {
  score: number;
  order: number;
}

/**
 * Chooses the delimiter and quote that make the sample most regular. Each candidate splits the
 * sample for real (quotes honoured) and is scored on how many rows share the most common width,
 * then on how uniform each column's cell types are. Counting delimiter characters per line (as the
 * source's script did) is fooled by quoted cells and by a `|` inside a title; splitting for real, a
 * delimiter that also occurs inside free text scores lower because the rows stop agreeing. An
 * explicit delimiter or quote is never second-guessed.
 */
export function detectDialect(sample: string, truncated: boolean, explicit: { delimiter?: string; quote?: string }): DetectedDialect {
  const delimiters = explicit.delimiter !== undefined ? [explicit.delimiter] : [...PREFERRED, ...otherCandidates(sample)];
  const quotes = explicit.quote !== undefined ? [explicit.quote] : QUOTES;
  let best: Scored | undefined;
  delimiters.forEach((delimiter, order) => {
    const isOther = explicit.delimiter === undefined && !PREFERRED.includes(delimiter);
    for (const quote of quotes) {
      const dialect = { delimiter, quote };
      const rows = splitSample(sample, truncated, dialect);
      // A quote that encloses no cell is no evidence of quoting, only of ignoring `"`: an unclosed `"`
      // must be reported as such, not hidden by reading the file as if `'` were its quote.
      if (explicit.quote === undefined && quote !== '"' && rows.quotedCells === 0) continue;
      const { score, width } = scoreRows(rows, isOther, explicit.delimiter !== undefined);
      const candidate: Scored = { dialect, sample: rows, width, score, order };
      if (best === undefined || better(candidate, best)) best = candidate;
    }
  });
  // The loop runs at least once: there is always one delimiter and one quote.
  const chosen = best!;
  if (chosen.score > 0 || explicit.delimiter !== undefined) return chosen;
  // No delimiter splits the rows: a one-column file. Read it with a delimiter the sample does not
  // contain (preferring the usual ones), so a comma inside a prompt stays in its cell.
  const unused = [...PREFERRED, '\u001f'].find((d) => !sample.includes(d)) ?? '\u001f';
  const dialect = { delimiter: unused, quote: explicit.quote ?? '"' };
  return { dialect, sample: splitSample(sample, truncated, dialect), width: 1 };
}

function better(a: Scored, b: Scored): boolean {
  if (Math.abs(a.score - b.score) > 1e-9) return a.score > b.score;
  // Same score: the quote that actually encloses cells, then the earlier delimiter, then `"`.
  if (a.order === b.order) return a.sample.quotedCells > b.sample.quotedCells;
  return false;
}

function scoreRows(sample: SampleRows, isOther: boolean, explicit: boolean): { score: number; width: number } {
  const { rows } = sample;
  if (rows.length === 0) return { score: 0, width: 1 };
  const widths = new Map<number, number>();
  for (const row of rows) widths.set(row.length, (widths.get(row.length) ?? 0) + 1);
  let width = 1;
  let agreeing = 0;
  for (const [w, n] of widths) {
    if (n > agreeing || (n === agreeing && w > width)) {
      width = w;
      agreeing = n;
    }
  }
  if (width < 2 && !explicit) return { score: 0, width };
  // A character missing from the first line (the header) is text, not a delimiter: "prompt" over
  // rows like "A lighthouse at dawn, watercolour" is one column. A rare character must split the
  // first line exactly like the rows.
  const firstWidth = rows[0]!.length;
  if (!explicit && (firstWidth === 1 || (isOther && firstWidth !== width))) return { score: 0, width };
  const consistency = agreeing / (rows.length + sample.swallowedLines);
  const profiles = buildProfiles(rows.slice(1), width);
  const typeScore = profiles.length === 0 ? 1 : profiles.reduce((sum, p) => sum + p.homogeneity(), 0) / profiles.length;
  const score = consistency * (0.75 + 0.25 * typeScore) * (isOther ? 0.9 : 1);
  return { score, width };
}

/**
 * Any other character the data shows as a delimiter: one that is neither letter, digit, space nor
 * quote and occurs as often in most of the first lines as in the first one (`~`, `^`, `#`...).
 */
function otherCandidates(sample: string): string[] {
  const lines = sample.split(/\r\n|\n|\r/).filter((l) => l.trim() !== '').slice(0, 50);
  if (lines.length < 2) return [];
  const perLine = lines.map((l) => {
    const counts = new Map<string, number>();
    for (const c of l) {
      if (/[\p{L}\p{N}\s"']/u.test(c) && c !== '\t') continue;
      if (PREFERRED.includes(c)) continue;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    return counts;
  });
  const first = perLine[0]!;
  const candidates: Array<{ c: string; share: number }> = [];
  for (const [c, n] of first) {
    const same = perLine.filter((counts) => counts.get(c) === n).length;
    const share = same / perLine.length;
    if (share >= 0.8) candidates.push({ c, share });
  }
  return candidates.sort((a, b) => b.share - a.share).slice(0, 3).map((x) => x.c);
}
