import type { EngineEvents } from '../engine/events.js';
import { formatDuration } from '../job/duration.js';

/**
 * The line that says what is not known about spend: calls whose outcome is unknown (the process was
 * killed, the call timed out or lost its connection after sending) count at their worst case.
 */
export function unknownSpend(calls: number, maxUsd: number): string {
  return `  + unknown, at most $${maxUsd.toFixed(4)}: ${calls} call(s) whose outcome is unknown (killed, timed out or cut off after sending), counted at their worst case`;
}

/** The sentence that ends a run, in the live view and in plain output. */
export function runEndLine(e: EngineEvents['run:end'][0], usd: (n: number) => string): string {
  const c = e.counts;
  const unknown =
    e.unsettledCalls > 0
      ? ` Plus at most ${usd(e.unsettledMaxUsd)} for ${e.unsettledCalls} call(s) whose outcome is unknown (counted at their worst case).`
      : '';
  return `Run ${e.runId} ended: ${e.outcome} (exit ${e.exitCode}) in ${formatDuration(e.durationMs)}. Steps: ${c.done} done, ${c.failed} failed, ${c.filtered} filtered, ${c.pending + c.running} pending. Total spent ${usd(e.costUsd)} over ${e.requests} calls.${unknown}`;
}

/** Said when a run stops with video operations still running at Vertex. */
export function operationsLeftLine(count: number): string {
  return `${count} video operation(s) are still running at Vertex. Their names are saved: \`genbatch resume JOB\` polls them and starts none of them again.`;
}

/** Said when a run finds nothing to do; filtered items are an outcome, not failures, and are named apart. */
export function nothingLine(e: EngineEvents['run:nothing'][0]): string {
  const left = [`${e.done} done`, ...(e.failed > 0 ? [`${e.failed} failed`] : []), ...(e.filtered > 0 ? [`${e.filtered} filtered`] : [])];
  return `Nothing to do: all ${e.total} items are finished (${left.join(', ')}). No API calls were made.`;
}
