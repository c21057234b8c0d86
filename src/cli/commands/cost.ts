import { existsSync } from 'node:fs';
import { stringify } from 'csv-stringify/sync';
import { loadJob } from '../../job/load-job.js';
import type { LedgerCostRow } from '../../store/ledger-queries.js';
import { StateStore } from '../../store/state-store.js';
import { line, type CliIO } from '../io.js';
import { unknownSpend } from '../render-spend.js';

/** `genbatch cost JOB [--json|--csv]`: spend by step, model, project and day, from the ledger. */
export async function costCommand(jobFile: string, flags: { json?: boolean; csv?: boolean }, io: CliIO): Promise<number> {
  const job = await loadJob(jobFile);
  let rows: LedgerCostRow[] = [];
  if (existsSync(job.stateFile)) {
    const store = StateStore.open(job.stateFile, { readonly: true });
    try {
      rows = store.ledger.costRows();
    } finally {
      store.close();
    }
  }
  const total = rows.reduce((a, r) => a + r.cost_usd, 0);
  const unsettled = rows.reduce((a, r) => a + r.unsettled_max_usd, 0);
  const unsettledCalls = rows.reduce((a, r) => a + r.unsettled_calls, 0);
  const usd = (n: number): number => Math.round(n * 1e6) / 1e6;
  if (flags.json) {
    line(
      io.stdout,
      JSON.stringify(
        {
          job: job.name,
          total_usd: usd(total),
          unsettled_max_usd: usd(unsettled),
          rows: rows.map((r) => ({ ...r, cost_usd: usd(r.cost_usd), unsettled_max_usd: usd(r.unsettled_max_usd) })),
        },
        null,
        2,
      ),
    );
  } else if (flags.csv) {
    io.stdout.write(
      stringify(
        rows.map((r) => ({ ...r, cost_usd: r.cost_usd.toFixed(6), unsettled_max_usd: r.unsettled_max_usd.toFixed(6) })),
        {
          header: true,
          columns: [
            'day',
            'step',
            'model',
            'project',
            'calls',
            'input_tokens',
            'output_tokens',
            'images',
            'video_seconds',
            'cost_usd',
            'unsettled_calls',
            'unsettled_max_usd',
          ],
        },
      ),
    );
  } else {
    line(io.stdout, `${job.name}: $${total.toFixed(4)} over ${rows.reduce((a, r) => a + r.calls, 0)} calls`);
    if (unsettledCalls > 0) line(io.stdout, unknownSpend(unsettledCalls, unsettled));
    for (const r of rows)
      line(
        io.stdout,
        `  ${r.day}  ${r.step.padEnd(12)} ${r.model.padEnd(26)} ${r.project.padEnd(16)} ${String(r.calls).padStart(6)} calls  $${r.cost_usd.toFixed(4)}${r.unsettled_calls > 0 ? `  (+ unknown, at most $${r.unsettled_max_usd.toFixed(4)})` : ''}`,
      );
  }
  return 0;
}
