import { cancelBatches } from '../../engine/cancel-batches.js';
import { prepareJob } from '../../engine/prepare-job.js';
import { line, type CliIO } from '../io.js';

/** `genbatch cancel JOB`: cancels the job's Vertex AI batch jobs; their unanswered items go back to pending. */
export async function cancelCommand(jobFile: string, io: CliIO): Promise<number> {
  const prepared = await prepareJob(jobFile, { reuseValidation: true, checkOutputs: false });
  const report = await cancelBatches(prepared, {
    onEvent: (event, ...args) => {
      if (event === 'batch:settled') {
        const e = args[0] as { name: string; state: string; succeeded: number; failed: number; requeued: number };
        line(io.stderr, `batch job ${e.name}: ${e.state}, ${e.succeeded} answered before the cancel, ${e.requeued} back to pending`);
      }
    },
  });
  if (report.cancelled.length === 0 && report.requeued === 0 && report.settled === 0) {
    line(io.stderr, `${prepared.job.name}: no batch job is running; nothing to cancel.`);
    return 0;
  }
  line(
    io.stderr,
    `Cancelled ${report.cancelled.length} batch job(s): ${report.settled} item step(s) settled, ${report.requeued} back to pending; \`genbatch run ${jobFile}\` resubmits them.`,
  );
  return 0;
}
