import { cellType, VALUE_TYPES } from './cell-type.js';
import { buildProfiles } from './column-profile.js';
import type { Dialect } from './csv-dialect.js';
import { splitSample, type SampleRows } from './sample-rows.js';

/** Delimiters tried first, in the order ties are broken. */
const PREFERRED = [',', '\t', ';', '|', ':'];
/** Tried last, and only taken for a table of values (see scoreRows). */
const SPACE = ' ';
const QUOTES = ['"', "'"];
const BACKSLASH = '\\';

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
 * delimiter that also occurs inside free text scores lower because the rows stop agreeing. Near-ties
 * go to the split whose cells read as values (see scoreRows). A backslash escape is tried when the
 * sample shows `\"`. An explicit delimiter or quote is never second-guessed.
 */
export function detectDialect(sample: string, truncated: boolean, explicit: { delimiter?: string; quote?: string }): DetectedDialect {
  const delimiters = explicit.delimiter !== undefined ? [explicit.delimiter] : [...PREFERRED, ...otherCandidates(sample), SPACE];
  const quotes = explicit.quote !== undefined ? [explicit.quote] : QUOTES;
  const firstLine = sample.slice(0, sample.search(/[\r\n]|$/));
  let best: Scored | undefined;
  delimiters.forEach((delimiter, order) => {
    const kind = candidateKind(delimiter, explicit.delimiter !== undefined);
    // A character the sample lacks splits nothing (and a space must split the header): not worth a parse.
    if (kind !== 'explicit' && (!sample.includes(delimiter) || (kind === 'space' && !firstLine.includes(SPACE)))) return;
    for (const quote of quotes) {
      if (quote === delimiter || (explicit.quote === undefined && quote !== '"' && !sample.includes(quote))) continue;
      // A doubled quote escapes a quote (RFC 4180); a backslash is only tried when the sample shows `\"`.
      const escapes = sample.includes(BACKSLASH + quote) && delimiter !== BACKSLASH ? [quote, BACKSLASH] : [quote];
      for (const escape of escapes) {
        const dialect: Dialect = escape === quote ? { delimiter, quote } : { delimiter, quote, escape };
        const rows = splitSample(sample, truncated, dialect);
        // A quote that encloses no cell is no evidence of quoting, only of ignoring `"`: an unclosed `"`
        // must be reported as such, not hidden by reading the file as if `'` were its quote.
        if (explicit.quote === undefined && quote !== '"' && rows.quotedCells === 0) continue;
        const { score, width } = scoreRows(rows, kind);
        const candidate: Scored = { dialect, sample: rows, width, score, order };
        if (best === undefined || better(candidate, best)) best = candidate;
      }
    }
  });
  if (best !== undefined && (best.score > 0 || explicit.delimiter !== undefined)) return best;
  if (explicit.delimiter !== undefined) {
    // Only when the delimiter is itself `"` and no `'` quotes a cell: read it with `'` as the quote.
    const dialect = { delimiter: explicit.delimiter, quote: explicit.quote ?? (explicit.delimiter === '"' ? "'" : '"') };
    const rows = splitSample(sample, truncated, dialect);
    return { dialect, sample: rows, width: scoreRows(rows, 'explicit').width };
  }
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

type CandidateKind = 'preferred' | 'other' | 'space' | 'explicit';

function candidateKind(delimiter: string, explicit: boolean): CandidateKind {
  if (explicit) return 'explicit';
  if (PREFERRED.includes(delimiter)) return 'preferred';
  return delimiter === SPACE ? 'space' : 'other';
}

/**
 * Scores one split of the sample: the share of rows with the most common width, weighed by how
 * uniform each column's cell types are. Near-ties go to the split whose cells read as values
 * (numbers, dates, URLs): splitting `Kaffee;14,90;3` on the comma gives `Kaffee;14` and `90;3`, on
 * the semicolon a word, a decimal and an integer.
 */
function scoreRows(sample: SampleRows, kind: CandidateKind): { score: number; width: number } {
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
  const explicit = kind === 'explicit';
  if (width < 2 && !explicit) return { score: 0, width };
  // A character missing from the first line (the header) is text, not a delimiter: "prompt" over
  // rows like "A lighthouse at dawn, watercolour" is one column. A rare character must split the
  // first line exactly like the rows.
  const firstWidth = rows[0]!.length;
  if (!explicit && (firstWidth === 1 || (kind !== 'preferred' && firstWidth !== width))) return { score: 0, width };
  const data = rows.length > 1 ? rows.slice(1) : rows;
  const profiles = buildProfiles(data, width);
  const { valueShare, spacedShare } = cellShapes(rows);
  const valueColumns = profiles.some((p) => p.size > 0 && VALUE_TYPES.has(p.dominantType()!) && p.homogeneity() >= 0.8);
  if (!explicit) {
    // Commas in prose: always followed by a space, a different number on each line, no column of
    // values. That is one column of sentences (prompts, say), not a table.
    if (agreeing < rows.length && spacedShare >= 0.9 && !valueColumns) return { score: 0, width };
    // A space separates words in any text; it only delimits a table of values in which every line,
    // the header too, splits alike.
    if (kind === 'space' && (agreeing < rows.length || rows.length < 3 || valueShare < 0.5)) return { score: 0, width };
  }
  const consistency = agreeing / (rows.length + sample.swallowedLines);
  const typeScore = profiles.length === 0 ? 1 : profiles.reduce((sum, p) => sum + p.homogeneity(), 0) / profiles.length;
  const rarity = kind === 'other' || kind === 'space' ? 0.9 : 1;
  const score = consistency * (0.75 + 0.25 * typeScore) * rarity * (0.99 + 0.01 * valueShare);
  return { score, width };
}

/**
 * Of the non-empty cells past the first row: the share of values (numbers, dates, booleans, URLs);
 * of the cells after the first in each row: the share that start with a space.
 */
function cellShapes(rows: readonly (readonly string[])[]): { valueShare: number; spacedShare: number } {
  let filled = 0;
  let values = 0;
  let later = 0;
  let spaced = 0;
  rows.forEach((row, r) => {
    row.forEach((cell, i) => {
      if (i > 0 && cell !== '') {
        later++;
        if (cell.charCodeAt(0) === 0x20) spaced++;
      }
      if (r === 0 && rows.length > 1) return;
      const type = cellType(cell);
      if (type === 'empty') return;
      filled++;
      if (VALUE_TYPES.has(type)) values++;
    });
  });
  return { valueShare: filled === 0 ? 0 : values / filled, spacedShare: later === 0 ? 0 : spaced / later };
}

/**
 * Any other character the data shows as a delimiter: one that is neither letter, digit, space nor
 * quote and occurs as often in most of the first lines as in the first one (`~`, `^`, `#`...).
 */
function otherCandidates(sample: string): string[] {
  const lines = sample
    .split(/\r\n|\n|\r/)
    .filter((l) => l.trim() !== '')
    .slice(0, 50);
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
  return candidates
    .sort((a, b) => b.share - a.share)
    .slice(0, 3)
    .map((x) => x.c);
}
