/** One check's outcome on one output: what the results file, status, log, metrics and review page show. */
export interface CheckVerdict {
  /** The check's name as the job file spells it: 'words', 'not_contains', 'language', 'not_blank', 'judge', ... */
  check: string;
  passed: boolean;
  /** Why it failed, in words a reviewer understands ("412 words, at most 300"); also the `feedback:` text. */
  reason?: string;
  /** A judge's score. */
  score?: number;
}
