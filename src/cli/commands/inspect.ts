import { isGenbatchError } from '../../errors/genbatch-error.js';
import { inspectInput, isRepairable, showChar, type InspectReport } from '../../input/index.js';
import { blankLines } from '../render-input.js';

type Out = { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream };

/** Problems printed in the human report; --json always lists them all (up to MAX_PROBLEMS). */
const SHOWN = 50;

export function renderInspect(file: string, report: InspectReport): string {
  const out: string[] = [file];
  const headerText = report.header === null ? 'no header row (columns are column_1, column_2, ...)' : report.header.join(', ');
  if (report.format === 'csv') {
    const escape = report.escape === undefined ? '' : ` (escaped with ${report.escape})`;
    out.push(
      `  format    delimited text: ${showChar(report.delimiter ?? ',')}, ${showChar(report.quote ?? '"')}${escape}, ${report.header === null ? 'no header row' : 'header row'}`,
    );
  } else {
    out.push(`  format    ${report.format === 'jsonl' ? 'JSON Lines' : 'JSON array'}`);
  }
  out.push(`  encoding  ${report.encoding}${report.bom ? ' with BOM' : ''}`);
  out.push(`  columns   ${report.columns}: ${headerText}`);
  out.push(`  rows      ${report.rows}${report.blank_lines > 0 ? ` (${blankLines(report.blank_lines)} skipped)` : ''}`);
  if (report.problem_count === 0) {
    out.push('  problems  none');
    return out.join('\n');
  }
  out.push(`  problems  ${report.problem_count}`);
  for (const p of report.problems.slice(0, SHOWN)) out.push(`    line ${p.line}: ${p.kind}: ${p.message}`);
  if (report.problem_count > SHOWN)
    out.push(`    ... and ${report.problem_count - SHOWN} more (--json lists ${Math.min(report.problem_count, report.problems.length)})`);
  const fixable = report.problems.filter(isRepairable).length;
  if (fixable === report.problem_count) {
    out.push(
      '',
      `Every problem has a safe repair: \`genbatch repair ${file} --out CLEAN_FILE\` writes a clean copy, or set input.on_bad_row: repair in the job.`,
    );
  } else {
    out.push(
      '',
      `${report.problem_count - fixable} of these rows have no safe repair: fix them in the file (quote fields that contain the delimiter, complete cut rows, close quotes).`,
    );
  }
  return out.join('\n');
}

/**
 * `genbatch inspect FILE [--json]`: what the input layer sees in a file. Exit 0 when clean, 1 when it
 * found problem rows, 2 when the file cannot be read at all (missing, not UTF-8, empty).
 */
export async function inspectCommand(file: string, opts: { json?: boolean; encoding?: string }, io: Out): Promise<number> {
  let report: InspectReport;
  try {
    report = await inspectInput(file, opts.encoding === undefined ? {} : { encoding: opts.encoding });
  } catch (error) {
    if (!isGenbatchError(error)) throw error;
    io.stderr.write(`error: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ''}`);
    return 2;
  }
  if (opts.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else io.stdout.write(`${renderInspect(file, report)}\n`);
  return report.problem_count > 0 ? 1 : 0;
}
