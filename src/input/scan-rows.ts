import { MAX_RECORD_CHARS, showChar } from './csv-dialect.js';
import { readCsvRecords } from './csv-records.js';
import { decodeFile } from './decode.js';
import type { InputLayout } from './input-layout.js';
import { jsonArrayElements } from './json-array-elements.js';
import { jsonRow } from './json-rows.js';
import type { Problem } from './problem.js';
import { proposeMerge } from './propose-repair.js';
import type { ScannedRow } from './scanned-row.js';
import { splitLines } from './split-lines.js';

/**
 * Streams every data row of the file with its problem, if any, and the repaired values when a repair
 * is proposed. Shared by inspect, validate, records() and repair, so all four see the same rows,
 * the same line numbers and the same repairs.
 */
export function scanRows(layout: InputLayout): AsyncGenerator<ScannedRow> {
  switch (layout.format) {
    case 'csv':
      return scanCsv(layout);
    case 'jsonl':
      return scanJsonLines(layout);
    case 'json':
      return scanJsonArray(layout);
  }
}

async function* scanCsv(layout: InputLayout): AsyncGenerator<ScannedRow> {
  const dialect = layout.dialect!;
  const { columns, profiles } = layout;
  const expected = columns.length;
  let headerPending = layout.header !== null;

  for await (const record of readCsvRecords(layout.file, layout.encoding, dialect)) {
    if ('failure' in record) {
      const { kind, cells, message } = record.failure;
      yield { line: record.line, problem: { line: record.line, kind, cells, expected, message } };
      return;
    }
    const { line, cells } = record;
    if (line <= layout.skipLines) continue;
    // A blank line, or one of delimiters only (";;;" as Excel exports an emptied row), holds no data:
    // it is not a bad row, only counted.
    if (cells.every((c) => c.trim() === '')) {
      yield { line, blank: true };
      continue;
    }
    if (headerPending) {
      headerPending = false;
      continue;
    }
    if (cells.length === expected) {
      yield { line, values: toValues(cells) };
    } else if (cells.length > expected) {
      const merge = proposeMerge(cells, profiles, dialect.delimiter);
      const extra = cells.length - expected;
      const problem: Problem = {
        line,
        kind: 'extra_cells',
        cells: cells.length,
        expected,
        message: merge
          ? `the row has ${cells.length} cells instead of ${expected} because "${columns[merge.index]}" holds ${extra === 1 ? 'an unquoted' : `${extra} unquoted`} ${showChar(dialect.delimiter, extra)}; proposed repair: ${columns[merge.index]} = ${JSON.stringify(merge.value)}.`
          : `the row has ${cells.length} cells instead of ${expected}, probably an unquoted ${showChar(dialect.delimiter)} inside a field, and no single column is clearly the one it belongs to; quote that field.`,
      };
      if (merge === undefined) {
        yield { line, problem };
      } else {
        problem.repair = { column: columns[merge.index]!, value: merge.value };
        yield { line, problem, values: toValues(merge.cells) };
      }
    } else {
      yield {
        line,
        problem: {
          line,
          kind: 'missing_cells',
          cells: cells.length,
          expected,
          message: `the row has ${cells.length} ${cells.length === 1 ? 'cell' : 'cells'} instead of ${expected}: a cut row, or a line break inside an unquoted field.`,
        },
      };
    }
  }

  function toValues(cells: readonly string[]): Record<string, string> {
    const values: Record<string, string> = {};
    columns.forEach((name, i) => {
      values[name] = cells[i] ?? '';
    });
    return values;
  }
}

async function* scanJsonLines(layout: InputLayout): AsyncGenerator<ScannedRow> {
  for await (const item of splitLines(decodeFile(layout.file, layout.encoding))) {
    if ('tooLong' in item) {
      yield tooLong(item.line, layout);
      return;
    }
    // JSON Lines readers conventionally skip blank lines; they hold no row to lose.
    if (item.text.trim() === '') {
      yield { line: item.line, blank: true };
      continue;
    }
    yield jsonRow(item.line, item.text, layout.columns, layout.requiredKeys);
  }
}

async function* scanJsonArray(layout: InputLayout): AsyncGenerator<ScannedRow> {
  for await (const item of jsonArrayElements(decodeFile(layout.file, layout.encoding))) {
    if ('failure' in item) {
      if (item.tooLong) yield tooLong(item.line, layout);
      else {
        const problem: Problem = {
          line: item.line,
          kind: 'malformed_row',
          cells: 0,
          expected: layout.columns.length,
          message: `the JSON array is broken here, ${item.failure}`,
        };
        yield item.row ? { line: item.line, problem } : { line: item.line, problem, betweenRows: true };
      }
      return;
    }
    yield jsonRow(item.line, item.text, layout.columns, layout.requiredKeys);
  }
}

function tooLong(line: number, layout: InputLayout): ScannedRow {
  return {
    line,
    problem: {
      line,
      kind: 'record_too_large',
      cells: 0,
      expected: layout.columns.length,
      message: `the row is longer than ${MAX_RECORD_CHARS.toLocaleString('en')} characters, the most genbatch reads in one row; reading stops here.`,
    },
  };
}
