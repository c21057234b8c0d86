import { batchesLeftLine, batchSettledLine, batchStateLine, batchStoppedLine, batchSubmittedLine } from './render-batch.js';
import type { Engine } from '../engine/engine.js';
import { formatDuration } from '../job/duration.js';
import { line, type CliIO } from './io.js';
import { nothingLine, operationsLeftLine, runEndLine } from './render-spend.js';
import { formatEta, SmoothedEta } from './smoothed-eta.js';

const usd = (n: number): string => `$${n.toFixed(n < 1 ? 4 : 2)}`;

/**
 * Renders a run's events for a person on stderr. It only listens: the engine never writes to the
 * terminal. Without a TTY it prints a plain progress line every ~5% of the steps or every 30 s.
 */
export function attachRunReporter(engine: Engine, io: CliIO, options: { quiet?: boolean } = {}): void {
  const err = io.stderr;
  let totalSteps = 0;
  let doneSteps = 0;
  let stepNames: string[] = [];
  // A failed or filtered step ends its item: its later steps will not run, so the total drops by them.
  const dropLaterSteps = (step: string): void => {
    const at = stepNames.indexOf(step);
    if (at >= 0) totalSteps -= stepNames.length - 1 - at;
  };
  let failed = 0;
  let cost = 0;
  // Rates and ETAs run on the monotonic clock: a wall-clock step (NTP, a VM resumed) does not bend them.
  let started = performance.now();
  let lastLine = -Infinity;
  let lastWaiting = -Infinity;
  const every = (): number => Math.max(1, Math.floor(totalSteps / 20));
  const eta = new SmoothedEta();

  const progress = (force = false): void => {
    if (options.quiet) return;
    const now = performance.now();
    if (!force && doneSteps % every() !== 0 && now - lastLine < 30_000) return;
    lastLine = now;
    const elapsed = (now - started) / 1000;
    const rate = elapsed > 0 ? doneSteps / elapsed : 0;
    eta.observe(doneSteps, now);
    const left = formatEta(eta.etaMs(totalSteps - doneSteps, now));
    line(err, `progress: ${doneSteps}/${totalSteps} steps, ${failed} failed, ${rate.toFixed(1)} steps/s, ETA ${left}, spent this run ${usd(cost)}`);
  };

  engine.on('run:start', (e) => {
    started = performance.now();
    stepNames = e.steps;
    // The steps left, not items × steps: after a resume, part of an item's steps may be done already.
    totalSteps = Object.values(e.pendingSteps).reduce((sum, n) => sum + n, 0);
    if (e.recovered > 0) line(err, `Recovered ${e.recovered} step(s) left running by a run that died; they are redone.`);
    if (e.pending > 0) line(err, `Run ${e.runId}: ${e.pending} of ${e.total} items have work left (steps: ${e.steps.join(' → ')}).`);
  });
  engine.on('run:nothing', (e) => {
    line(err, nothingLine(e));
  });
  engine.on('step:done', (e) => {
    doneSteps += 1;
    cost += e.costUsd;
    progress();
  });
  engine.on('step:failed', (e) => {
    failed += 1;
    doneSteps += 1;
    dropLaterSteps(e.step);
    line(err, `failed: item "${e.itemId}" step ${e.step}: ${e.message}`);
  });
  engine.on('step:filtered', (e) => {
    doneSteps += 1;
    dropLaterSteps(e.step);
    line(err, `filtered: item "${e.itemId}" step ${e.step}: ${e.reason}`);
  });
  engine.on('step:retry', (e) => {
    if (e.waitingOn !== undefined)
      line(
        err,
        `retry: item "${e.itemId}" step ${e.step}: ${e.waitingOn} is full (429, refusal ${e.refusals ?? 1} in a row, no attempt used), again in ${formatDuration(e.delayMs)}`,
      );
    else line(err, `retry: item "${e.itemId}" step ${e.step} on ${e.project} (${e.code}), attempt ${e.attempt}, in ${formatDuration(e.delayMs)}`);
  });
  engine.on('project:cooldown', (e) => {
    line(err, `quota: project ${e.project} ${e.perDay ? 'is out for the day' : 'cools down'} until ${new Date(e.untilMs).toISOString()}`);
  });
  engine.on('project:disabled', (e) => {
    line(err, `disabled: project ${e.project} for this run: ${e.reason}`);
  });
  engine.on('model:unavailable', (e) => line(err, `unavailable: ${e.model} on project ${e.project} for this run: ${e.reason}`));
  engine.on('model:fallback', (e) =>
    line(err, e.model === e.primary ? `fallback: back to ${e.model} (pool "${e.pool}")` : `fallback: ${e.model} instead of ${e.primary} (${e.reason})`),
  );
  engine.on('credentials:reloaded', (e) => {
    const parts = [
      e.added.length ? `added ${e.added.join(', ')}` : '',
      e.removed.length ? `removed ${e.removed.join(', ')}` : '',
      e.changed.length ? `changed ${e.changed.join(', ')}` : '',
    ].filter(Boolean);
    line(err, `credentials reloaded: ${parts.join('; ') || 'no change'}`);
  });
  engine.on('credentials:invalid', (e) => {
    line(err, `credentials file changed but is not valid; keeping the projects in use.\n${e.message}`);
  });
  engine.on('operation:pending', (e) => {
    line(
      err,
      `waiting: ${e.resumed ? 'polling the video operation started before' : 'video operation started'} for item "${e.itemId}" (${e.operationName.split('/').pop() ?? ''}); checking with growing intervals until it is done.`,
    );
  });
  engine.on('run:waiting', (e) => {
    if (performance.now() - lastWaiting < 10_000) return;
    lastWaiting = performance.now();
    line(err, `waiting: ${e.reason}; the earliest is back at ${new Date(e.untilMs).toISOString()}. Nothing is sent meanwhile.`);
  });
  engine.on('run:stopping', (e) => {
    if (e.reason === 'cancelled')
      line(err, 'Stopping: no new items; waiting for the calls in flight to finish (Ctrl-C again to exit now; the state stays resumable).');
  });
  engine.on('batch:submitted', (e) => line(err, batchSubmittedLine(e)));
  engine.on('batch:state', (e) => line(err, batchStateLine(e)));
  engine.on('batch:settled', (e) => line(err, batchSettledLine(e)));
  engine.on('batch:stopped', (e) => line(err, batchStoppedLine(e)));
  engine.on('batches:left', (e) => line(err, batchesLeftLine(e)));
  engine.on('operations:left', (e) => line(err, operationsLeftLine(e.count)));
  engine.on('run:end', (e) => {
    progress(true);
    line(err, runEndLine(e, usd));
    if (e.resultsFile) line(err, `Results: ${e.resultsFile}`);
  });
}
