import { existsSync } from 'node:fs';
import { stringify } from 'csv-stringify/sync';
import { NANO, utcDay } from '../../coordination/coordinator.js';
import { sharedSpend } from '../../coordination/shared-view.js';
import { loadCredentials } from '../../credentials/load-credentials.js';
import { GenbatchError } from '../../errors/genbatch-error.js';
import { loadJob } from '../../job/load-job.js';
import type { LedgerCostRow } from '../../store/ledger-queries.js';
import { openStateToRead } from '../../store/open-state.js';
import { CACHE_LEDGER_PROJECT } from '../../store/rows.js';
import { line, type CliIO } from '../io.js';
import { unknownSpend } from '../render-spend.js';

/** `genbatch cost JOB [--json|--csv]`: spend by step, model, project and day, from the ledger. `--all CREDENTIALS`: the day's spend of every job using the file. */
export async function costCommand(jobFile: string | undefined, flags: { json?: boolean; csv?: boolean; all?: string }, io: CliIO): Promise<number> {
  if (flags.all !== undefined) {
    if (jobFile !== undefined) throw new GenbatchError('Give either a job file or --all CREDENTIALS, not both.', { code: 'USAGE', exitCode: 2 });
    return sharedCost(flags.all, flags, io);
  }
  if (jobFile === undefined)
    throw new GenbatchError('Which spend? Give a job file (genbatch cost JOB) or a credentials file (genbatch cost --all CREDENTIALS).', {
      code: 'USAGE',
      exitCode: 2,
    });
  const job = await loadJob(jobFile);
  let rows: LedgerCostRow[] = [];
  if (existsSync(job.stateFile)) {
    const store = openStateToRead(job.stateFile);
    try {
      rows = store.ledger.costRows();
    } finally {
      store.close();
    }
  }
  const total = rows.reduce((a, r) => a + r.cost_usd, 0);
  const unsettled = rows.reduce((a, r) => a + r.unsettled_max_usd, 0);
  const unsettledCalls = rows.reduce((a, r) => a + r.unsettled_calls, 0);
  // Calls served by provisioned throughput are prepaid: $0 here, counted apart so totals stay honest.
  const provisionedCalls = rows.filter((r) => r.provisioned === 1).reduce((a, r) => a + r.calls, 0);
  // Explicit context caches' storage (issue 29): spend, not calls, on rows of their own.
  const storage = rows.filter((r) => r.storage === 1);
  const storageUsd = storage.reduce((a, r) => a + r.cost_usd, 0);
  const storageTokenHours = storage.reduce((a, r) => a + r.cache_token_hours, 0);
  const usd = (n: number): number => Math.round(n * 1e6) / 1e6;
  if (flags.json) {
    line(
      io.stdout,
      JSON.stringify(
        {
          job: job.name,
          total_usd: usd(total),
          unsettled_max_usd: usd(unsettled),
          provisioned_calls: provisionedCalls,
          cache_storage_usd: usd(storageUsd),
          cache_storage_token_hours: Math.round(storageTokenHours * 1e6) / 1e6,
          rows: rows.map((r) => ({
            ...r,
            provisioned: r.provisioned === 1,
            storage: r.storage === 1,
            cost_usd: usd(r.cost_usd),
            unsettled_max_usd: usd(r.unsettled_max_usd),
          })),
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
            'cached_tokens',
            'counted_tokens',
            'provisioned',
            'storage',
            'cache_token_hours',
            'cost_usd',
            'unsettled_calls',
            'unsettled_max_usd',
          ],
        },
      ),
    );
  } else {
    // Steps answered by the response cache are rows of project "(cache)": answers, not calls.
    const calls = rows.filter((r) => r.project !== CACHE_LEDGER_PROJECT).reduce((a, r) => a + r.calls, 0);
    const cached = rows.filter((r) => r.project === CACHE_LEDGER_PROJECT).reduce((a, r) => a + r.calls, 0);
    line(io.stdout, `${job.name}: $${total.toFixed(4)} over ${calls} calls${cached > 0 ? `, and ${cached} answer(s) from the response cache at $0` : ''}`);
    if (storage.length > 0)
      line(io.stdout, `  context-cache storage: $${storageUsd.toFixed(8)} (${storageTokenHours.toFixed(4)} token-hours), included in the total`);
    if (provisionedCalls > 0) line(io.stdout, `  + ${provisionedCalls} call(s) on provisioned throughput (prepaid: $0 here, billed by your reservation)`);
    if (unsettledCalls > 0) line(io.stdout, unknownSpend(unsettledCalls, unsettled));
    for (const r of rows.filter((row) => row.storage !== 1))
      line(
        io.stdout,
        `  ${r.day}  ${r.step.padEnd(12)} ${r.model.padEnd(26)} ${r.project.padEnd(16)} ${String(r.calls).padStart(6)} ${r.project === CACHE_LEDGER_PROJECT ? 'cached' : 'calls'}  $${r.cost_usd.toFixed(4)}${r.provisioned === 1 ? '  provisioned throughput' : ''}${r.unsettled_calls > 0 ? `  (+ unknown, at most $${r.unsettled_max_usd.toFixed(4)})` : ''}`,
      );
    for (const r of storage)
      line(
        io.stdout,
        `  ${r.day}  ${r.step.padEnd(12)} ${r.model.padEnd(26)} ${r.project.padEnd(16)} cache storage ${r.cache_token_hours.toFixed(4)} token-hours  $${r.cost_usd.toFixed(8)}`,
      );
  }
  return 0;
}

/**
 * `genbatch cost --all CREDENTIALS`: today's (UTC) spend of every job using the credentials file, per
 * job and project, as the runs booked it where they share (this host's shared file, or Redis with
 * `coordination:`), with the shared `budget.daily_usd` when the file has one.
 */
async function sharedCost(credentialsFile: string, flags: { json?: boolean; csv?: boolean }, io: CliIO): Promise<number> {
  const credentials = await loadCredentials(credentialsFile, { emulated: true });
  const day = utcDay(Date.now());
  const { kind, where, spend } = await sharedSpend(credentials, day);
  const usd = (nano: number): number => Math.round((nano / NANO) * 1e6) / 1e6;
  const rows = spend.rows.map((r) => ({ day, job: r.job, project: r.project, calls: r.calls, cost_usd: usd(r.nano) }));
  const budget = credentials.budget;
  if (flags.json) {
    line(
      io.stdout,
      JSON.stringify(
        {
          credentials: credentials.file,
          coordination: { kind, where },
          day,
          daily_usd: budget?.dailyUsd ?? null,
          alert_at: budget?.alertAt ?? null,
          spent_usd: usd(spend.spentNano),
          held_usd: usd(spend.heldNano),
          rows,
        },
        null,
        2,
      ),
    );
    return 0;
  }
  if (flags.csv) {
    io.stdout.write(stringify(rows, { header: true, columns: ['day', 'job', 'project', 'calls', 'cost_usd'] }));
    return 0;
  }
  const shared = kind === 'redis' ? `through ${where}` : `on this host (${where})`;
  line(
    io.stdout,
    `${credentials.file}: $${(spend.spentNano / NANO).toFixed(4)} spent on ${day} (UTC) by ${new Set(rows.map((r) => r.job)).size} job(s), ${shared}`,
  );
  if (budget) {
    const share = Math.round((spend.spentNano / NANO / budget.dailyUsd) * 100);
    line(io.stdout, `  shared budget.daily_usd $${budget.dailyUsd.toFixed(2)}: ${share}% spent, alert at ${Math.round(budget.alertAt * 100)}%`);
  }
  if (spend.heldNano > 0)
    line(io.stdout, `  + $${(spend.heldNano / NANO).toFixed(4)} held for calls in flight or whose outcome is unknown (counted at their worst case)`);
  for (const r of rows) line(io.stdout, `  ${r.job.padEnd(24)} ${r.project.padEnd(16)} ${String(r.calls).padStart(6)} calls  $${r.cost_usd.toFixed(4)}`);
  return 0;
}
