import type { Problem } from './problem.js';

/**
 * A row as the scan hands it on: its values (after the proposed repair, for a repairable row), its
 * problem if it has one, and the line where it starts. The bad-row policy decides what to do with it.
 */
export interface ScannedRow {
  line: number;
  /** Values by column; absent when the row cannot be used even after repair. */
  values?: Record<string, string>;
  problem?: Problem;
  /** The problem lies between rows (a JSON array's punctuation): not counted as a row. */
  betweenRows?: true;
  /**
   * A blank line (empty, only whitespace, or only delimiters as spreadsheets write an emptied row):
   * no row and no problem, skipped by every pass and counted (inspect and run say how many).
   */
  blank?: true;
}
