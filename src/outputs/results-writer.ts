import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, extname, join, basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { Job } from '../job/job.js';
import type { ItemStepRow, StateStore } from '../store/state-store.js';

/**
 * A cell that starts with = + - @ (or a tab/CR) is run as a formula by spreadsheet programs; a
 * leading apostrophe makes it plain text (OWASP's advice for CSV injection).
 */
export function neutraliseFormula(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

function scalarFields(result: unknown): [string, string][] {
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return [];
  return Object.entries(result as Record<string, unknown>)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
    .map(([k, v]) => [k, String(v)]);
}

export interface ResultRecord {
  id: string;
  steps: Record<string, { state: string; files: string[]; fields: Record<string, string>; error?: string }>;
  cost_usd: number;
}

function* resultRecords(job: Job, store: StateStore): Generator<ResultRecord> {
  const byItem = new Map<string, ItemStepRow[]>();
  for (const row of store.allItemSteps()) {
    const list = byItem.get(row.itemId) ?? [];
    list.push(row);
    byItem.set(row.itemId, list);
  }
  for (const item of store.iterateItems()) {
    const rows = byItem.get(item.id) ?? [];
    const steps: ResultRecord['steps'] = {};
    let cost = 0;
    for (const step of job.steps) {
      const row = rows.find((r) => r.step === step.name);
      cost += row?.costUsd ?? 0;
      steps[step.name] = {
        state: row?.state ?? 'pending',
        files: row?.outputs ?? [],
        fields: Object.fromEntries(row?.state === 'done' && step.jsonSchema ? scalarFields(row.result) : []),
        ...(row?.errorMessage && row.state !== 'done' ? { error: row.errorMessage } : {}),
      };
    }
    yield { id: item.id, steps, cost_usd: Math.round(cost * 1e6) / 1e6 };
  }
}

/** Writes the job's `results:` file (CSV or JSON Lines) from the state, atomically. */
export async function writeResults(job: Job, store: StateStore, scratchDir: string): Promise<string | undefined> {
  const target = job.resultsFile;
  if (!target) return undefined;
  await mkdir(dirname(target), { recursive: true });
  await mkdir(scratchDir, { recursive: true });
  const temp = join(scratchDir, `${basename(target)}.${process.pid}.tmp`);
  const records = resultRecords(job, store);
  if (extname(target).toLowerCase() === '.jsonl') {
    const lines = Readable.from((function* () {
      for (const record of records) yield `${JSON.stringify(record)}\n`;
    })());
    await pipeline(lines, createWriteStream(temp));
  } else {
    const columns = ['id'];
    for (const step of job.steps) {
      columns.push(`${step.name}_state`);
      if (step.output) columns.push(`${step.name}_file`);
      const props = step.jsonSchema?.properties;
      if (props && typeof props === 'object') for (const field of Object.keys(props)) columns.push(`${step.name}_${field}`);
      columns.push(`${step.name}_error`);
    }
    columns.push('cost_usd');
    const rows = Readable.from((function* () {
      for (const record of records) {
        const row: string[] = [neutraliseFormula(record.id)];
        for (const step of job.steps) {
          const s = record.steps[step.name];
          row.push(s?.state ?? '');
          if (step.output) row.push(neutraliseFormula(s?.files.join(' ') ?? ''));
          const props = step.jsonSchema?.properties;
          if (props && typeof props === 'object') for (const field of Object.keys(props)) row.push(neutraliseFormula(s?.fields[field] ?? ''));
          row.push(neutraliseFormula(s?.error ?? ''));
        }
        row.push(record.cost_usd.toFixed(6));
        yield row;
      }
    })());
    await pipeline(rows, stringify({ header: true, columns }), createWriteStream(temp));
  }
  await rename(temp, target);
  return target;
}
