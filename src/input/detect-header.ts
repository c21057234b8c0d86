import { cellType, VALUE_TYPES } from './cell-type.js';
import { buildProfiles } from './column-profile.js';

/** A first cell this long, with spaces, in a column of such text, reads as data rather than a name. */
const SENTENCE_CHARS = 20;

/**
 * Whether the first row names the columns. Jobs address cells by name, so a header is assumed unless
 * the first row looks like data: in the columns whose cells share one value type (numbers, dates,
 * booleans, URLs), a first cell of that same type votes "data", anything else (a word) votes "header".
 * In a column of sentences, a first cell that is itself a sentence of the usual length votes "data"
 * (a file of prompts with no header); a short name gives no evidence either way.
 */
export function detectHeader(rows: readonly (readonly string[])[], width: number): boolean {
  const first = rows[0];
  if (first === undefined) return true;
  const data = rows.slice(1).filter((r) => r.length === width);
  if (data.length === 0) return true;
  const profiles = buildProfiles(data, width);
  let votes = 0;
  profiles.forEach((profile, i) => {
    const cell = first[i] ?? '';
    const own = cellType(cell);
    const dominant = profile.dominantType();
    if (dominant === undefined || profile.homogeneity() < 0.8) return;
    if (VALUE_TYPES.has(dominant)) votes += own === dominant ? -1 : 1;
    else if (dominant === 'text' && own === 'text' && cell.trim().length >= SENTENCE_CHARS && Math.abs(profile.lengthZ(cell)) <= 1.5) votes -= 1;
  });
  return votes >= 0;
}
