import { CELL_TYPES, cellType, isPadded, type CellType } from './cell-type.js';

/**
 * What the well-formed rows of the sample say about one column: which cell types it holds, how often
 * its cells carry leading/trailing spaces, and how long they typically are. Built once from the
 * detection sample, so every pass (inspect, validate, records, repair) proposes the same repair.
 */
export class ColumnProfile {
  private readonly types = new Map<CellType, number>();
  private padded = 0;
  private count = 0;
  // Welford's running mean/variance of log(1 + length): lengths are skewed, their logs much less.
  private mean = 0;
  private m2 = 0;

  add(value: string): void {
    const type = cellType(value);
    this.types.set(type, (this.types.get(type) ?? 0) + 1);
    if (isPadded(value)) this.padded++;
    this.count++;
    const x = Math.log1p(value.length);
    const delta = x - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (x - this.mean);
  }

  get size(): number {
    return this.count;
  }

  /** Share of the cells of the most common type: 1 for a column of slugs, lower for a mixed one. */
  homogeneity(): number {
    if (this.count === 0) return 1;
    return Math.max(...this.types.values()) / this.count;
  }

  dominantType(): CellType | undefined {
    let best: CellType | undefined;
    let bestCount = 0;
    for (const [type, n] of this.types) {
      if (n > bestCount) {
        best = type;
        bestCount = n;
      }
    }
    return best;
  }

  hasSeen(type: CellType): boolean {
    return (this.types.get(type) ?? 0) > 0;
  }

  /** How many standard deviations the value's length is from the column's typical length (log scale). */
  lengthZ(value: string): number {
    const sd = Math.max(Math.sqrt(this.count > 1 ? this.m2 / (this.count - 1) : 0), 0.2);
    return (Math.log1p(value.length) - this.mean) / sd;
  }

  /** How well a value fits this column, as a log-likelihood (higher is better, 0 is perfect). */
  logFit(value: string): number {
    const smoothing = 0.5;
    const type = cellType(value);
    const typeP = ((this.types.get(type) ?? 0) + smoothing) / (this.count + smoothing * CELL_TYPES.length);
    const padP = ((isPadded(value) ? this.padded : this.count - this.padded) + smoothing) / (this.count + 2 * smoothing);
    const z = this.lengthZ(value);
    // Lengths weigh less than types: a long title is unusual, a sentence in a slug column is wrong.
    const lengthLog = -0.5 * Math.min(z * z, 50) * 0.5;
    return Math.log(typeP) + Math.log(padP) + lengthLog;
  }
}

/** One profile per column, from the rows that have exactly as many cells as there are columns. */
export function buildProfiles(rows: readonly (readonly string[])[], columns: number): ColumnProfile[] {
  const profiles = Array.from({ length: columns }, () => new ColumnProfile());
  for (const row of rows) {
    if (row.length !== columns) continue;
    row.forEach((value, i) => profiles[i]!.add(value));
  }
  return profiles;
}
