import { badRowError } from './bad-rows-error.js';
import { describeInput } from './describe-input.js';
import type { InputLayout } from './input-layout.js';
import type { InputOptions, InputRecord, OpenedInput } from './input-source.js';
import { isRepairable, stopsReading } from './problem.js';
import { scanRows } from './scan-rows.js';

export interface OpenedInputFile extends OpenedInput {
  /** What detection found (encoding, dialect, header), for previews and logs. */
  layout: InputLayout;
}

/**
 * Detects the layout from the head of the file and returns a reader whose records() streams the rows
 * under the bad-row policy: `repair` merges the proposed cells (and drops blank lines), `skip` drops
 * bad rows, `fail` (the default) throws a ConfigError naming the line. A row after which nothing can
 * be read (an unclosed quote) throws under every policy: skipping it would silently drop the rest.
 * records() only meets bad rows one at a time; call validateInput first to list them all.
 */
export async function openInput(opts: InputOptions): Promise<OpenedInputFile> {
  const layout = await describeInput(opts);
  const policy = opts.onBadRow ?? 'fail';
  return {
    format: layout.format,
    columns: layout.columns,
    layout,
    async *records(): AsyncGenerator<InputRecord> {
      for await (const row of scanRows(layout)) {
        const { problem, line, values } = row;
        if (row.blank) continue;
        if (problem === undefined) {
          yield { line, values: values! };
          continue;
        }
        if (stopsReading(problem)) throw badRowError(layout.file, problem, policy);
        if (policy === 'skip') continue;
        if (policy === 'repair' && isRepairable(problem)) {
          if (values !== undefined) yield { line, values };
          continue;
        }
        throw badRowError(layout.file, problem, policy);
      }
    },
  };
}
