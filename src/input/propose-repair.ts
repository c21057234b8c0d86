import { cellType } from './cell-type.js';
import type { ColumnProfile } from './column-profile.js';

export interface MergeProposal {
  /** Index of the column that receives the merged cells. */
  index: number;
  value: string;
  /** The row after the merge, one cell per column. */
  cells: string[];
}

/** Fewer well-formed sample rows than this, and no column profile is trusted enough to repair with. */
const MIN_PROFILE_ROWS = 3;
/** The best merge must be this much likelier than the next (log scale: 10x) to be proposed. */
const MIN_MARGIN = Math.log(10);

/**
 * For a row with too many cells because a field held an unquoted delimiter (the source's
 * "PostgreSQL vs MySQL vs SQLite | Which Database..."), tries merging the extra cells back into each
 * column in turn and keeps the merge that makes the row look like the others: every cell of a type
 * its column has shown (a slug column never holds a sentence), likeliest in padding and length.
 * Returns nothing when the evidence is thin or two merges are about as good: a wrong repair is
 * worse than a reported row.
 */
export function proposeMerge(cells: readonly string[], profiles: readonly ColumnProfile[], delimiter: string): MergeProposal | undefined {
  const columns = profiles.length;
  const extra = cells.length - columns;
  if (extra <= 0 || columns === 0 || (profiles[0]?.size ?? 0) < MIN_PROFILE_ROWS) return undefined;

  const scored: Array<MergeProposal & { score: number; plausible: boolean }> = [];
  for (let index = 0; index < columns; index++) {
    const value = cells.slice(index, index + extra + 1).join(delimiter);
    const merged = [...cells.slice(0, index), value, ...cells.slice(index + extra + 1)];
    let score = 0;
    let plausible = true;
    merged.forEach((cell, i) => {
      const profile = profiles[i]!;
      score += profile.logFit(cell);
      if (!profile.hasSeen(cellType(cell))) plausible = false;
    });
    scored.push({ index, value, cells: merged, score, plausible });
  }
  scored.sort((a, b) => b.score - a.score);
  const [best, second] = scored;
  if (best === undefined || !best.plausible) return undefined;
  if (second !== undefined && best.score - second.score < MIN_MARGIN) return undefined;
  return { index: best.index, value: best.value, cells: best.cells };
}
