import type { EngineEvents } from '../engine/events.js';

/** Lines about Vertex AI batch jobs, shared by the progress lines and the live view. */

export function batchSubmittedLine(e: EngineEvents['batch:submitted'][0]): string {
  return `batch job ${e.resumed ? 'found again, polling' : 'submitted'}: ${e.name.split('/').pop() ?? e.name} for step ${e.step} on ${e.project} (${e.requests} requests); waiting for Vertex AI (up to 24 h).`;
}

export function batchStateLine(e: EngineEvents['batch:state'][0]): string {
  return `batch job ${e.name.split('/').pop() ?? e.name} [${e.step}]: ${e.state.replace(/^JOB_STATE_/, '')}, ${e.succeeded} answered, ${e.failed} failed so far`;
}

export function batchSettledLine(e: EngineEvents['batch:settled'][0]): string {
  const requeued = e.requeued > 0 ? `; ${e.requeued} back to pending (${e.reason ?? ''}), the next run resubmits them` : '';
  const unmatched = e.unmatched !== undefined ? `; ${e.unmatched} line(s) matched no item and ${e.missing ?? 0} item(s) got no line` : '';
  const unreadable = e.unreadable ? `; Vertex billed ${e.unreadable} line(s) whose output cannot be read` : '';
  const damaged = e.damaged ? `; ${e.damaged} line(s) of the output are not JSON` : '';
  return `batch job ${e.name.split('/').pop() ?? e.name} [${e.step}] ended ${e.state.replace(/^JOB_STATE_/, '')}: ${e.succeeded} ok, ${e.failed} failed${requeued}${unmatched}${unreadable}${damaged}`;
}

export function batchStoppedLine(e: EngineEvents['batch:stopped'][0]): string {
  // The full message and hint close the run's output (and are in the run log).
  return `batch step ${e.step} stopped (${e.code}); its items are not submitted again in this run, and the run's other steps go on.`;
}

export function batchesLeftLine(e: EngineEvents['batches:left'][0]): string {
  return `${e.count} batch job(s) (${e.requests} requests) are still running at Vertex AI. Their names are saved: the next \`genbatch run JOB\` collects them and submits none of them again.`;
}
