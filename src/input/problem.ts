/**
 * A row that cannot be passed on as it stands. Problems are found by one streaming pass
 * (validateInput, inspectInput) and by records() itself, always with the line where the row starts.
 */

export type ProblemKind =
  /** More cells than the header: usually a delimiter inside an unquoted field. */
  | 'extra_cells'
  /** Fewer cells than the header: a cut row or a line break inside an unquoted field. */
  | 'missing_cells'
  /** A quote opened and never closed: everything after it would be read as one field. */
  | 'unterminated_quote'
  /** A row longer than the reader accepts; reading stops there. */
  | 'record_too_large'
  /** Anything else that cannot be split (a broken JSON array, an odd CSV error); reading stops there. */
  | 'malformed_row'
  /** JSON Lines / JSON array: an element that is not valid JSON. */
  | 'invalid_json'
  /** JSON Lines / JSON array: an element that is valid JSON but not an object. */
  | 'not_an_object'
  /** JSON Lines / JSON array: an object without a key every sampled object has. */
  | 'missing_keys';

/** The proposed fix of an `extra_cells` row: these cells, joined by the delimiter, are the value of `column`. */
export interface RowRepair {
  column: string;
  value: string;
}

export interface Problem {
  /** 1-based line where the row starts, as an editor counts lines. */
  line: number;
  kind: ProblemKind;
  /** Cells (or JSON keys) the reader found in this row. */
  cells: number;
  /** Cells (or JSON keys) a row should have. */
  expected: number;
  /** One sentence for a person. */
  message: string;
  repair?: RowRepair;
}

/** Problems after which nothing more of the file can be read: no policy may skip past them. */
export function stopsReading(problem: Problem): boolean {
  return problem.kind === 'unterminated_quote' || problem.kind === 'record_too_large' || problem.kind === 'malformed_row';
}

/** Problems a `repair` policy can fix: merge the proposed cells. (Blank lines are no problem: every pass skips them.) */
export function isRepairable(problem: Problem): boolean {
  return problem.repair !== undefined;
}
