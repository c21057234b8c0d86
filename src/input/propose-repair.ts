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
/** More extra cells than this and no merge is tried: such a row is not one field with stray delimiters. */
const MAX_MERGED = 100;
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
  if (extra <= 0 || extra > MAX_MERGED || columns === 0 || (profiles[0]?.size ?? 0) < MIN_PROFILE_ROWS) return undefined;

  // Linear in the row, not quadratic: merging at `index` leaves cells before it in their column and
  // shifts those after it `extra` to the left, so each cell's fit in both places is computed once
  // and summed from either end (a row of 10,000 cells would otherwise be scored 10,000 times).
  const fit = (cell: string, column: number): { score: number; plausible: boolean } => {
    const profile = profiles[column]!;
    return { score: profile.logFit(cell), plausible: profile.hasSeen(cellType(cell)) };
  };
  const before = [{ score: 0, plausible: true }];
  for (let i = 0; i < columns; i++) {
    const { score, plausible } = fit(cells[i]!, i);
    before.push({ score: before[i]!.score + score, plausible: before[i]!.plausible && plausible });
  }
  const after = Array.from({ length: columns + 1 }, () => ({ score: 0, plausible: true }));
  for (let i = columns - 1; i >= 0; i--) {
    const { score, plausible } = fit(cells[i + extra]!, i);
    after[i] = { score: after[i + 1]!.score + score, plausible: after[i + 1]!.plausible && plausible };
  }

  const scored: Array<{ index: number; value: string; score: number; plausible: boolean }> = [];
  for (let index = 0; index < columns; index++) {
    const value = cells.slice(index, index + extra + 1).join(delimiter);
    const merged = fit(value, index);
    scored.push({
      index,
      value,
      score: before[index]!.score + merged.score + after[index + 1]!.score,
      plausible: before[index]!.plausible && merged.plausible && after[index + 1]!.plausible,
    });
  }
  scored.sort((a, b) => b.score - a.score);
  const [best, second] = scored;
  if (best === undefined || !best.plausible) return undefined;
  if (second !== undefined && best.score - second.score < MIN_MARGIN) return undefined;
  const merged = [...cells.slice(0, best.index), best.value, ...cells.slice(best.index + extra + 1)];
  return { index: best.index, value: best.value, cells: merged };
}
