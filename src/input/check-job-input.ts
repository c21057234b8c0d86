import { access } from 'node:fs/promises';
import { ConfigError, ConfigErrors } from '../errors/config-error.js';
import { nearestName } from '../errors/suggest-name.js';
import { jobProblem } from '../job/config-problem.js';
import { displayPath } from '../job/display-path.js';
import type { InputDialect, Job } from '../job/job.js';
import type { InputLayout } from './input-layout.js';
import { parseTemplateVars } from '../job/template.js';
import { badRowsError } from './bad-rows-error.js';
import { fingerprintInput, validatedRows, validationKey, type InputFingerprint } from './input-fingerprint.js';
import { inputOptionsOf } from './input-options.js';
import type { InputOptions } from './input-source.js';
import { openInput } from './open-input.js';
import { scanRowsForJob } from './scan-job-rows.js';
import { resultsDialect } from '../outputs/results-dialect.js';
import { resultFields, resultsHeader } from '../outputs/results-writer.js';

/** What the pass over a job's input found: its columns and rows, and with `reuseValidation` whether it was scanned now. */
export interface CheckedInput {
  columns: string[];
  rows: number;
  /** Blank lines skipped in the input, when its rows were scanned now (not when a validation was reused). */
  blankLines?: number;
  /** How the input is written (delimiter, BOM, CRLF): a results file for a spreadsheet export follows it. */
  dialect: InputDialect;
  /**
   * With `reuseValidation`: the input's fingerprint when it was validated, the validation key, and
   * whether the rows were scanned now or the last validation of the same input was reused.
   */
  input?: { fingerprint: InputFingerprint; validationKey: string; validated: 'scanned' | 'reused' };
}

const MAX_LISTED = 50;

function listed(problems: string[], unkept = 0): string {
  const shown = problems.slice(0, MAX_LISTED);
  const more = problems.length - shown.length + unkept;
  return shown.join('\n') + (more > 0 ? `\n  … and ${more} more` : '');
}

/**
 * Rows whose id hashed like an earlier one's: duplicates once the input is read again, which also
 * finds the line each id was first used on (a different id with the same 64-bit hash is not one).
 * Reads the input again only when there are suspects, which almost always means it has duplicates
 * and is refused anyway.
 */
async function confirmDuplicates(
  options: InputOptions,
  idColumn: string,
  suspects: { id: string; line: number }[],
): Promise<{ id: string; line: number; firstLine: number }[]> {
  if (suspects.length === 0) return [];
  const wanted = new Set(suspects.map((s) => s.id));
  const firstLine = new Map<string, number>();
  const opened = await openInput(options);
  for await (const record of opened.records()) {
    const id = (record.values[idColumn] ?? '').trim();
    if (wanted.has(id) && !firstLine.has(id)) firstLine.set(id, record.line);
    if (firstLine.size === wanted.size) break;
  }
  return suspects.flatMap((s) => {
    const first = firstLine.get(s.id);
    return first !== undefined && first < s.line ? [{ ...s, firstLine: first }] : [];
  });
}

/**
 * A spreadsheet export: delimited text with a BOM, semicolons (Excel where the decimal mark is a
 * comma), Excel's `sep=` line, or an encoding other than UTF-8 (Excel's "CSV" on Windows, or its
 * UTF-16 "Unicode text"). A tool-written file (comma, UTF-8 without BOM) is not one, whatever its
 * line ends: Python's csv module writes CRLF too, and its readers expect the results they always got.
 */
export function inputDialectOf(layout: InputLayout): InputDialect {
  const { encoding, dialect, crlf } = layout;
  const spreadsheet = layout.format === 'csv' && (encoding.bom || dialect?.delimiter === ';' || layout.skipLines > 0 || encoding.name !== 'utf-8');
  return { spreadsheet, bom: encoding.bom, crlf, encoding: encoding.name, ...(dialect ? { delimiter: dialect.delimiter } : {}) };
}

/**
 * `results: { columns }` names input columns, and none of them (nor the id column) may share a name
 * with a column the results file has anyway (`cost_usd`, `<step>_state`...): a reader would see one.
 */
function resultsColumnProblems(job: Job, columns: string[], dialect: InputDialect, shownInput: string): ConfigError[] {
  const problem = jobProblem(job);
  const unknown = (job.resultsFormat?.columns ?? []).flatMap((name) => {
    if (columns.includes(name)) return [];
    const suggestion = nearestName(name, columns);
    return [
      problem(
        'results.columns',
        `"${name}" is not a column of ${shownInput} (columns: ${columns.join(', ')})${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
        'results.columns lists input columns to copy into the results file, spelled as in the header row.',
      ),
    ];
  });
  if (unknown.length > 0 || job.resultsFile === undefined || job.resultsFile.toLowerCase().endsWith('.jsonl')) return unknown;
  let header: string[];
  try {
    header = resultsHeader(resultFields(job, job.resultsFields ? { fields: job.resultsFields } : {}), resultsDialect({ ...job, inputDialect: dialect }));
  } catch {
    return []; // an unknown results field is reported by prepareJob, before the input is read
  }
  const twice = header.filter((name, i) => header.indexOf(name) !== i);
  return [...new Set(twice)].map((name) =>
    problem(
      'results.columns',
      `the results file would have two columns "${name}": an input column of that name and the one genbatch writes`,
      'Leave that column out of results.columns, or rename it in the input.',
    ),
  );
}

/** The id column, and every column a template names, must be in the input: the id column first, alone. */
function columnProblems(job: Job, columns: string[], dialect: InputDialect, shownInput: string): ConfigError[] {
  const problem = jobProblem(job);
  if (!columns.includes(job.input.id)) {
    const suggestion = nearestName(job.input.id, columns);
    return [
      problem(
        'input.id',
        `the id column "${job.input.id}" is not in ${shownInput} (columns: ${columns.join(', ')})${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
      ),
    ];
  }
  const problems: ConfigError[] = resultsColumnProblems(job, columns, dialect, shownInput);
  for (const step of job.steps) {
    const templates: [string, string][] = [[`steps.${step.name}.prompt`, step.prompt]];
    if (step.system) templates.push([`steps.${step.name}.system`, step.system]);
    if (step.output) templates.push([`steps.${step.name}.output.file`, step.output.file]);
    for (const [path, template] of templates) {
      for (const variable of parseTemplateVars(template)) {
        if (variable.kind === 'column' && !columns.includes(variable.name)) {
          const suggestion = nearestName(variable.name, columns);
          problems.push(
            problem(
              path,
              `{{${variable.raw}}} names a column that is not in ${shownInput} (columns: ${columns.join(', ')})${suggestion ? `; did you mean {{${suggestion}}}?` : ''}`,
            ),
          );
        }
      }
    }
  }
  return problems;
}

/**
 * A job's input, checked before anything is spent: the file, the id column, the columns the templates
 * name, then one pass over the rows (bad rows first, every one the policy leaves, listed; then ids,
 * prompts and output names row by row).
 *
 * With `reuseValidation` (run, resume), the pass over the rows is skipped when the state file says
 * this very input (same content hash) was validated under the same rules, templates and reading
 * options: a resume of a million-row job does not parse it again.
 */
export async function checkJobInput(job: Job, options: { reuseValidation?: boolean } = {}): Promise<CheckedInput> {
  const problem = jobProblem(job);
  const shownJob = displayPath(job.file);
  try {
    await access(job.input.file);
  } catch {
    throw problem(
      'input.file',
      `the input file ${displayPath(job.input.file)} does not exist or is not readable.`,
      'Paths in the job file are relative to the job file.',
      {
        code: 'INPUT_MISSING',
      },
    );
  }

  const inputOptions = inputOptionsOf(job);
  const opened = await openInput(inputOptions);
  const shownInput = displayPath(job.input.file);
  const columns = opened.columns;
  const dialect = inputDialectOf(opened.layout);

  const unknown = columnProblems(job, columns, dialect, shownInput);
  if (unknown.length > 0) throw unknown.length === 1 && unknown[0]?.keyPath === 'input.id' ? unknown[0] : new ConfigErrors(unknown);

  const fingerprint = options.reuseValidation ? await fingerprintInput(job.input.file) : undefined;
  const key = fingerprint && validationKey(job, fingerprint);
  if (fingerprint && key) {
    const rows = validatedRows(job.stateFile, key);
    if (rows !== undefined) return { columns, rows, dialect, input: { fingerprint, validationKey: key, validated: 'reused' } };
  }

  const scan = await scanRowsForJob(job, shownInput);
  const { rows, suspects, found } = scan;
  const badRows = badRowsError(shownInput, scan.problems, job.input.onBadRow, scan.problemCount);
  if (badRows) throw badRows;
  if (scan.stop) throw scan.stop;
  const duplicates = await confirmDuplicates(inputOptions, job.input.id, suspects);
  const problems = [...found.items];
  if (duplicates.length > 0)
    problems.unshift(
      `${duplicates.length} duplicate id(s) in column "${job.input.id}":`,
      ...duplicates.map((d) => `${shownInput}:${d.line}: id "${d.id}" already used on line ${d.firstLine}`),
    );
  if (problems.length > 0) {
    const more = found.total - found.items.length;
    throw new ConfigError(`The input of ${shownJob} is not usable; nothing was sent:\n${listed(problems, more)}`, {
      file: job.input.file,
      code: 'INPUT_INVALID',
    });
  }
  if (rows === 0) throw new ConfigError(`${shownInput} has no data rows.`, { file: job.input.file, code: 'INPUT_EMPTY' });
  return {
    columns,
    rows,
    blankLines: scan.blankLines,
    dialect,
    ...(fingerprint && key ? { input: { fingerprint, validationKey: key, validated: 'scanned' as const } } : {}),
  };
}
