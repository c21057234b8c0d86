import { existsSync } from 'node:fs';
import { buildStatus } from '../../engine/status.js';
import { staleNow } from '../../engine/staleness.js';
import { checkStateOwner } from '../../engine/state-owner.js';
import { loadJob, displayPath } from '../../job/load-job.js';
import { StateStore } from '../../store/state-store.js';
import { line, type CliIO } from '../io.js';
import { unknownSpend } from '../render-spend.js';

/** `genbatch status JOB [--json]`: what is done, pending, failed (with reasons), and what it cost. */
export async function statusCommand(jobFile: string, flags: { json?: boolean }, io: CliIO): Promise<number> {
  const job = await loadJob(jobFile);
  if (!existsSync(job.stateFile)) {
    if (flags.json) {
      line(
        io.stdout,
        JSON.stringify({
          job: job.name,
          state_file: job.stateFile,
          total: 0,
          counts: { pending: 0, running: 0, done: 0, failed: 0, filtered: 0 },
          steps: {},
          cost_usd: 0,
          unsettled_max_usd: 0,
          unsettled_calls: 0,
          stale: 0,
          requests: 0,
          failures: [],
          last_run: null,
        }),
      );
    } else line(io.stderr, `${job.name}: not started yet (no state file at ${displayPath(job.stateFile)}).`);
    return 0;
  }
  const store = StateStore.open(job.stateFile, { readonly: true });
  try {
    // Another job file's state (same name in the same folder) is not shown as this one's.
    checkStateOwner(store, job, { claim: false });
    const status = buildStatus(job, store, { stale: await staleNow(job, store) });
    if (flags.json) {
      line(io.stdout, JSON.stringify(status, null, 2));
      return 0;
    }
    const c = status.counts;
    const out = io.stdout;
    line(out, `${status.job}: ${status.total} items — ${c.done} done, ${c.pending} pending, ${c.running} running, ${c.failed} failed, ${c.filtered} filtered`);
    for (const [name, s] of Object.entries(status.steps)) {
      line(out, `  step ${name}: ${s.done} done, ${s.pending} pending, ${s.running} running, ${s.failed} failed, ${s.filtered} filtered`);
    }
    if (status.stale > 0)
      line(out, `Stale: ${status.stale} done item(s) changed since (input row or templates); \`genbatch run JOB --redo-stale\` redoes them.`);
    line(out, `Cost so far: $${status.cost_usd.toFixed(4)} over ${status.requests} API calls`);
    if (status.unsettled_calls > 0) line(out, unknownSpend(status.unsettled_calls, status.unsettled_max_usd));
    for (const p of status.projects) {
      line(
        out,
        `  project ${p.name}: ${p.requests} calls, ${p.ok} ok, ${p.rejected_429} rejected by quota (429), ${p.errors} other errors, $${p.cost_usd.toFixed(4)}`,
      );
    }
    if (status.last_run) {
      const r = status.last_run;
      line(
        out,
        `Last run ${r.id}: started ${r.started_at}, ${r.ended_at ? `ended ${r.ended_at}, ${r.outcome} (exit ${r.exit_code})` : 'still running or killed'}`,
      );
    }
    if (status.failures.length > 0) {
      line(out, `Failures (${status.failures.length}):`);
      for (const f of status.failures.slice(0, 20)) line(out, `  ${f.id} [${f.step}] ${f.error}: ${f.message}`);
      if (status.failures.length > 20) line(out, `  … ${status.failures.length - 20} more (status --json lists them all)`);
    }
    return 0;
  } finally {
    store.close();
  }
}
