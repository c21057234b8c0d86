import { createClient } from '../credentials/client-factory.js';
import { ProjectPool } from '../coordination/project-pool.js';
import { AtomicWriter } from '../outputs/atomic-write.js';
import { HeldReplies } from '../outputs/held-replies.js';
import type { EngineEvents } from './events.js';
import { BatchExecutor } from './executors/batch-executor.js';
import { OnlineExecutor } from './executors/online-executor.js';
import { heldRepliesDirFor, scratchDirFor } from './paths.js';
import type { PreparedJob } from './prepare-job.js';
import { RunSession } from './run-session.js';
import { steadyNow } from '../resilience/steady-clock.js';

export interface CancelReport {
  /** Batch jobs Vertex was asked to cancel. */
  cancelled: string[];
  /** Units answered before the cancel took effect (settled as done, failed or filtered). */
  settled: number;
  /** Units back to pending. */
  requeued: number;
}

/** Longest wait for cancelled jobs to end (Vertex takes seconds to minutes); what is left is polled by the next run. */
const CANCEL_WAIT_MS = 10 * 60_000;

/**
 * `genbatch cancel JOB`: asks Vertex to cancel every batch job of the job that is not settled, waits
 * for them to end, settles what they answered before the cancel (it was billed) and puts the rest
 * back to pending. It holds the job's lock like a run (exit 5 while a run is active).
 */
export async function cancelBatches(
  prepared: PreparedJob,
  options: { onEvent?: <K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]) => void } = {},
): Promise<CancelReport> {
  const session = RunSession.open(prepared);
  const { store, runId } = session;
  const { job, catalog, credentials } = prepared;
  const pool = new ProjectPool(credentials, { createClient });
  const report: CancelReport = { cancelled: [], settled: 0, requeued: 0 };
  const emit = <K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]): void => {
    if (event === 'batch:settled') report.requeued += (args[0] as EngineEvents['batch:settled'][0]).requeued;
    options.onEvent?.(event, ...args);
  };
  try {
    const context = {
      runId,
      job,
      store,
      catalog,
      pool,
      writer: new AtomicWriter(scratchDirFor(job)),
      held: new HeldReplies(heldRepliesDirFor(job)),
      emit,
    };
    let failure: unknown;
    const batch = new BatchExecutor({
      ...context,
      online: new OnlineExecutor(context),
      budget: undefined,
      credentials: () => credentials,
      signal: new AbortController().signal,
      noWait: false,
      onBudgetRefused: () => undefined,
    });
    /** A turn of the executor: what it settled is counted (`stopping`: nothing new is started). */
    const turn = (stopping: boolean): number => {
      const { settled, nextAt, failed } = batch.turn(steadyNow(), { drain: false, stopping });
      for (const s of settled) if (s.verdict.kind !== 'released') report.settled += 1;
      failure ??= failed;
      return nextAt;
    };
    await batch.resume();
    report.cancelled = await batch.cancelAll();
    const deadline = steadyNow() + CANCEL_WAIT_MS;
    while ((batch.outstanding > 0 || batch.inFlight > 0) && failure === undefined && steadyNow() < deadline) {
      const next = turn(false);
      const wait = Math.max(20, Math.min(1000, (Number.isFinite(next) ? next : steadyNow() + 200) - steadyNow()));
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    turn(true);
    if (failure !== undefined) throw failure;
    store.endRun(runId, 'cancelled', 0);
    return report;
  } finally {
    pool.detach();
    await session.close();
  }
}
