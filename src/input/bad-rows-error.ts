import { ConfigError } from '../errors/config-error.js';
import type { BadRowPolicy } from './input-source.js';
import { isRepairable, stopsReading, type Problem, type ProblemKind } from './problem.js';

/** Problems the policy does not take care of: `fail` none, `repair` the unrepairable, `skip` those that stop reading. */
export function unhandledProblems(problems: readonly Problem[], policy: BadRowPolicy = 'fail'): Problem[] {
  switch (policy) {
    case 'fail':
      return [...problems];
    case 'repair':
      return problems.filter((p) => !isRepairable(p));
    case 'skip':
      return problems.filter((p) => stopsReading(p));
  }
}

/** Problems of JSON rows: the CSV advice (quote the delimiter) does not apply to them. */
const JSON_KINDS: ReadonlySet<ProblemKind> = new Set(['invalid_json', 'not_an_object', 'missing_keys']);

function hintFor(problems: readonly Problem[], file: string, policy: BadRowPolicy): string {
  const inspect = `Run \`genbatch inspect ${file}\` to see each row`;
  const stop = problems.find(stopsReading);
  if (stop?.kind === 'unterminated_quote') return `${inspect}; close or double the quote it names (no policy can skip past it).`;
  if (stop?.kind === 'record_too_large') {
    return `Shorten that row (move long texts out of the input file) or check that the file has one row per line; no policy can skip past it.`;
  }
  if (stop !== undefined) return `${inspect}; fix the file where it names (no policy can skip past it).`;
  if (problems.every((p) => JSON_KINDS.has(p.kind))) {
    return `${inspect}; make each of those rows one JSON object${policy === 'skip' ? '' : ', or set input.on_bad_row: skip to leave them out'}.`;
  }
  if (policy === 'fail' && problems.every(isRepairable)) {
    return `${inspect} and its proposed repair; quote fields that contain the delimiter, or set input.on_bad_row: repair (merge as proposed) or skip.`;
  }
  if (policy === 'fail') return `${inspect}; quote fields that contain the delimiter and complete cut rows, or set input.on_bad_row: skip to leave them out.`;
  return `${inspect}; these rows have no safe repair: fix them in the file, or set input.on_bad_row: skip to leave them out.`;
}

/** The error for one bad row met while streaming records. */
export function badRowError(file: string, problem: Problem, policy: BadRowPolicy): ConfigError {
  return new ConfigError(`${file}:${problem.line}: ${problem.message}`, {
    code: 'INPUT_BAD_ROW',
    file,
    line: problem.line,
    hint: hintFor([problem], file, policy),
  });
}

/** Lines listed in the message before the rest are summarised as line numbers only. */
const DETAILED = 20;

/**
 * One error listing every bad row the policy leaves (each line number; the first ones with their
 * reason), or undefined when there is none. Meant for the check before any record is used:
 * `validateInput` then this, so a person fixes all rows at once rather than one per run.
 */
export function badRowsError(file: string, problems: readonly Problem[], policy: BadRowPolicy = 'fail', total = problems.length): ConfigError | undefined {
  const left = unhandledProblems(problems, policy);
  if (left.length === 0) return undefined;
  const shown = left.slice(0, DETAILED).map((p) => `  line ${p.line}: ${p.message}`);
  const rest = left.slice(DETAILED).map((p) => p.line);
  const more = rest.length > 0 ? [`  and lines ${rest.join(', ')}`] : [];
  const unlisted = total > problems.length ? [`  (${total - problems.length} more problems were not recorded)`] : [];
  const rows = left.length === 1 ? 'row' : 'rows';
  return new ConfigError([`${file}: ${left.length} bad ${rows} (policy "${policy}"):`, ...shown, ...more, ...unlisted].join('\n'), {
    code: 'INPUT_BAD_ROWS',
    file,
    line: left[0]!.line,
    hint: hintFor(left, file, policy),
  });
}
