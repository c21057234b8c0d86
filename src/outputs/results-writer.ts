import { extname } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { ConfigError } from '../errors/config-error.js';
import type { Job, Step } from '../job/job.js';
import { nearestName } from '../errors/suggest-name.js';
import { AtomicWriter } from './atomic-write.js';
import { resultsDialect, type ResultsDialect } from './results-dialect.js';
import { checksSummary } from '../quality/run-checks.js';
import type { ResultsReadModel } from '../store/interfaces/results-read-model.js';
import { FIRST_ITEM } from '../store/item-cursor.js';
import type { ItemStepRow } from '../store/rows.js';

/** A plain number ("-3", "+1.5", "2e-4") is data, not a formula, whatever its sign. */
const PLAIN_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * A cell that starts with = + - @ (or a tab/CR) is run as a formula by spreadsheet programs; a
 * leading apostrophe makes it plain text (OWASP's advice for CSV injection). Plain numbers are
 * left alone, so a negative score stays a number.
 */
export function neutraliseFormula(value: string): string {
  return /^[=+\-@\t\r]/.test(value) && !PLAIN_NUMBER.test(value) ? `'${value}` : value;
}

export interface ResultsOptions {
  /**
   * Which fields of earlier steps go to the results, as `step.field` (`step.*` for all of a step's
   * JSON fields, `step.text` for a step's text). Default: every JSON field of every JSON step, and
   * the text of text steps that have neither JSON nor an output file (it is stored nowhere else).
   */
  fields?: readonly string[];
}

/** The fields chosen for one step, in schema order. */
export interface StepColumns {
  step: Step;
  fields: string[];
  text: boolean;
}

function schemaFields(step: Step): string[] {
  const props = step.jsonSchema?.properties;
  return props && typeof props === 'object' ? Object.keys(props) : [];
}

/** Resolves `options.fields` against the job's steps; an unknown name is an error naming the nearest. */
export function resultFields(job: Job, options: ResultsOptions = {}): StepColumns[] {
  if (options.fields === undefined) {
    return job.steps.map((step) => ({
      step,
      fields: schemaFields(step),
      text: step.task === 'text' && step.jsonSchema === undefined && step.output === undefined,
    }));
  }
  const chosen = new Map(job.steps.map((step) => [step.name, { step, fields: [] as string[], text: false }]));
  const known = job.steps.flatMap((step) => [
    ...schemaFields(step).map((f) => `${step.name}.${f}`),
    `${step.name}.*`,
    ...(step.task === 'text' ? [`${step.name}.text`] : []),
  ]);
  for (const name of options.fields) {
    const dot = name.indexOf('.');
    const entry = chosen.get(name.slice(0, dot));
    const field = name.slice(dot + 1);
    if (dot > 0 && entry && field === '*') {
      for (const f of schemaFields(entry.step)) if (!entry.fields.includes(f)) entry.fields.push(f);
    } else if (dot > 0 && entry && field === 'text' && entry.step.task === 'text') {
      entry.text = true;
    } else if (dot > 0 && entry && schemaFields(entry.step).includes(field)) {
      if (!entry.fields.includes(field)) entry.fields.push(field);
    } else {
      const nearest = nearestName(name, known);
      throw new ConfigError(`The results field "${name}" is not a field of any step${nearest ? `; did you mean "${nearest}"?` : '.'}`, {
        code: 'RESULTS_FIELD_UNKNOWN',
        hint: `Name fields as step.field (fields come from the step's json:), step.* or step.text. Known: ${known.join(', ')}.`,
      });
    }
  }
  return [...chosen.values()];
}

export interface ResultRecord {
  id: string;
  /** The input columns `results.columns` carries, as read from the input. */
  input?: Record<string, string>;
  steps: Record<
    string,
    {
      state: string;
      /** The model that produced the result: the step's own or one of its fallbacks (done steps only). */
      model?: string;
      /** Served from the response cache, without a call. */
      cached?: boolean;
      files: string[];
      fields: Record<string, unknown>;
      text?: string;
      error?: string;
      /** Why the model stopped on the step's last reply (STOP, MAX_TOKENS, SAFETY…), when it said. */
      finish_reason?: string;
      /** A done step that kept a reply cut at max_output_tokens (`on_truncated: keep`). */
      truncated?: boolean;
      /** Steps with checks: `passed`, or the failed checks' names, plus the judge's score (issue 28). */
      checks?: string;
    }
  >;
  cost_usd: number;
}

/** Items read from the state at a time: memory stays bounded whatever the size of the job. */
const PAGE = 500;

/** Every item of the state with its steps, in input order, a page at a time (no statement stays open between pages). */
function* itemsWithSteps(store: ResultsReadModel, values: boolean): Generator<{ id: string; steps: ItemStepRow[]; values?: Record<string, string> }> {
  let cursor = FIRST_ITEM;
  for (;;) {
    const page = store.itemsWithSteps(cursor, PAGE, { values });
    for (const item of page) yield item;
    const last = page.at(-1);
    if (!last || page.length < PAGE) return;
    cursor = last.cursor;
  }
}

function* resultRecords(columns: readonly StepColumns[], store: ResultsReadModel, carried: readonly string[]): Generator<ResultRecord> {
  for (const item of itemsWithSteps(store, carried.length > 0)) {
    const rows = item.steps;
    const steps: ResultRecord['steps'] = {};
    let cost = 0;
    for (const { step, fields, text } of columns) {
      const row = rows.find((r) => r.step === step.name);
      cost += row?.costUsd ?? 0;
      const result =
        row?.state === 'done' && row.result !== null && typeof row.result === 'object' && !Array.isArray(row.result)
          ? (row.result as Record<string, unknown>)
          : {};
      const chosen: Record<string, unknown> = {};
      for (const field of fields) if (result[field] !== undefined) chosen[field] = result[field];
      const done = row?.state === 'done';
      steps[step.name] = {
        state: row?.state ?? 'pending',
        ...(done ? { model: row.model ?? step.model, cached: row.cached } : {}),
        files: row?.outputs ?? [],
        fields: chosen,
        ...(text && typeof result.text === 'string' ? { text: result.text } : {}),
        ...(row?.errorMessage && row.state !== 'done' ? { error: row.errorMessage } : {}),
        ...(row?.finishReason ? { finish_reason: row.finishReason } : {}),
        ...(done && row.truncated ? { truncated: true } : {}),
        ...(row?.checks && (row.state === 'done' || row.state === 'failed') ? { checks: checksSummary(row.checks) } : {}),
      };
    }
    const input = carried.length > 0 ? Object.fromEntries(carried.map((c) => [c, item.values?.[c] ?? ''])) : undefined;
    yield { id: item.id, ...(input ? { input } : {}), steps, cost_usd: Math.round(cost * 1e9) / 1e9 };
  }
}

/**
 * Dollars to the nano-dollar, without trailing zeros: "0.0406", "0.000002727", "0". Embedding items
 * cost fractions of a micro-dollar each; rounding them to 6 places would make the column's sum drift
 * from the ledger's total.
 */
export function formatUsd(usd: number): string {
  const fixed = (Math.round(usd * 1e9) / 1e9).toFixed(9);
  return fixed.replace(/\.?0+$/, '') || '0';
}

/** A field value as one CSV cell: strings neutralised, numbers and booleans as written, the rest as JSON. */
function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return neutraliseFormula(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return neutraliseFormula(JSON.stringify(value));
}

/** The CSV header: the id column, the carried input columns, per step its columns, then the cost. */
export function resultsHeader(columns: readonly StepColumns[], dialect: Pick<ResultsDialect, 'idColumn' | 'columns'>): string[] {
  const header = [dialect.idColumn, ...dialect.columns];
  for (const { step, fields, text } of columns) {
    header.push(`${step.name}_state`, `${step.name}_model`, `${step.name}_cached`);
    if (step.output) header.push(`${step.name}_file`);
    for (const field of fields) header.push(`${step.name}_${field}`);
    if (text) header.push(`${step.name}_text`);
    header.push(`${step.name}_finish_reason`);
    if (step.checks) header.push(`${step.name}_checks`);
    header.push(`${step.name}_error`);
  }
  header.push('cost_usd');
  return header;
}

/**
 * Writes the job's `results:` file from the state, atomically: CSV (one row per item: id, the input
 * columns `results.columns` carries, then per step its state, output files, chosen fields, finish
 * reason and error, then the item's cost), or JSON Lines when the file ends in .jsonl (the same
 * record as an object, field values with their JSON types). The CSV's delimiter, BOM, line ends
 * and id column name follow results-dialect.ts (a spreadsheet export's results read like it).
 */
export async function writeResults(job: Job, store: ResultsReadModel, scratchDir: string, options: ResultsOptions = {}): Promise<string | undefined> {
  const target = job.resultsFile;
  if (!target) return undefined;
  const columns = resultFields(job, options);
  const dialect = resultsDialect(job);
  const records = resultRecords(columns, store, dialect.columns);
  // Written a page of items at a time, each page formatted at once: what a page allocates dies
  // young, so a million items pass through a small heap.
  await new AtomicWriter(scratchDir).writeInPieces(target, async (file) => {
    if (extname(target).toLowerCase() === '.jsonl') {
      let lines: string[] = [];
      for (const record of records) {
        lines.push(`${JSON.stringify(record)}\n`);
        if (lines.length >= PAGE) {
          await file.append(lines.join(''));
          lines = [];
        }
      }
      await file.append(lines.join(''));
      return;
    }
    const header = resultsHeader(columns, dialect);
    const format = {
      delimiter: dialect.delimiter,
      record_delimiter: dialect.crlf ? 'windows' : 'unix',
      // A line break inside a cell is quoted whatever ends the records (csv-stringify leaves a bare CR alone under CRLF).
      quoted_match: /[\r\n]/,
    } as const;
    // Excel reads a CSV as UTF-8 only when it starts with a byte-order mark.
    if (dialect.bom) await file.append('\uFEFF');
    let rows: string[][] = [];
    let first = true;
    const flush = async (): Promise<void> => {
      await file.append(stringify(rows, first ? { ...format, header: true, columns: header } : format));
      first = false;
      rows = [];
    };
    for (const record of records) {
      const row: string[] = [neutraliseFormula(record.id), ...dialect.columns.map((c) => neutraliseFormula(record.input?.[c] ?? ''))];
      for (const { step, fields, text } of columns) {
        const s = record.steps[step.name];
        row.push(s?.state ?? '', s?.model ?? '', s?.cached ? 'yes' : '');
        if (step.output) row.push(neutraliseFormula(s?.files.join(' ') ?? ''));
        for (const field of fields) row.push(cell(s?.fields[field]));
        if (text) row.push(cell(s?.text));
        row.push(s?.finish_reason ?? '');
        if (step.checks) row.push(s?.checks ?? '');
        row.push(neutraliseFormula(s?.error ?? ''));
      }
      row.push(formatUsd(record.cost_usd));
      rows.push(row);
      if (rows.length >= PAGE) await flush();
    }
    await flush();
  });
  return target;
}
