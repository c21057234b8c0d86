import { cellType, VALUE_TYPES } from './cell-type.js';
import { buildProfiles } from './column-profile.js';

/**
 * Whether the first row names the columns. Jobs address cells by name, so a header is assumed unless
 * the first row looks like data: in the columns whose cells share one value type (numbers, dates,
 * booleans, URLs), a first cell of that same type votes "data", anything else (a word) votes "header".
 * Text columns give no evidence either way.
 */
export function detectHeader(rows: readonly (readonly string[])[], width: number): boolean {
  const first = rows[0];
  if (first === undefined) return true;
  const data = rows.slice(1).filter((r) => r.length === width);
  if (data.length === 0) return true;
  const profiles = buildProfiles(data, width);
  let votes = 0;
  profiles.forEach((profile, i) => {
    const own = cellType(first[i] ?? '');
    const dominant = profile.dominantType();
    if (dominant !== undefined && VALUE_TYPES.has(dominant) && profile.homogeneity() >= 0.8) votes += own === dominant ? -1 : 1;
  });
  return votes >= 0;
}
