import cliProgress from 'cli-progress';
import type { Engine } from '../engine/engine.js';
import type { ProjectSnapshot } from '../engine/events.js';
import { formatDuration } from '../job/duration.js';
import type { CliIO } from './io.js';
import { operationsLeftLine, runEndLine } from './render-spend.js';

const usd = (n: number): string => `$${n.toFixed(n < 10 ? 3 : 2)}`;

function projectLine(projects: ProjectSnapshot[], now: number): string {
  return projects
    .map((p) => {
      if (p.state === 'cooling' || p.state === 'exhausted')
        return `${p.name}: ${p.state === 'exhausted' ? 'out for the day' : 'cooling'} ${formatDuration(Math.max(0, (p.until ?? now) - now))}`;
      if (p.state === 'disabled') return `${p.name}: disabled (${p.reason ?? ''})`;
      return `${p.name}: ${p.state} ${p.requests} req${p.rejected429 ? `, ${p.rejected429}×429` : ''}`;
    })
    .join(' | ');
}

/**
 * The live view on a terminal: a bar per step (done/total, rate, ETA), spend so far against the
 * estimate, each project's state, and what the run is waiting for. Events only; it never steers.
 */
export function attachLiveView(engine: Engine, io: CliIO, options: { estimateUsd?: number } = {}): void {
  const multibar = new cliProgress.MultiBar(
    {
      stream: io.stderr,
      format: ' {step} |{bar}| {value}/{total} {rate}/s ETA {eta_formatted} {extra}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      forceRedraw: true,
      fps: 5,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  let status: cliProgress.SingleBar | undefined;
  let spent = 0;
  let waiting = '';
  const started = Date.now();
  const rates = new Map<string, number>();

  const refreshStatus = (): void => {
    const estimate = options.estimateUsd === undefined ? '' : ` of ~${usd(options.estimateUsd)} estimated`;
    status?.update(0, { step: 'spend', extra: `${usd(spent)}${estimate} · ${projectLine(engine.projects(), Date.now())}${waiting ? ` · ${waiting}` : ''}` });
  };
  const timer = setInterval(refreshStatus, 1000);
  timer.unref();

  engine.on('run:start', (e) => {
    for (const step of e.steps) {
      bars.set(step, multibar.create(e.pending, 0, { step: step.padEnd(10), rate: '0.0', extra: '' }));
    }
    status = multibar.create(1, 0, { step: 'spend', rate: '', extra: '' }, { format: ' {extra}' });
    refreshStatus();
  });
  engine.on('step:done', (e) => {
    spent += e.costUsd;
    const bar = bars.get(e.step);
    if (!bar) return;
    bar.increment(1);
    const count = (rates.get(e.step) ?? 0) + 1;
    rates.set(e.step, count);
    bar.update({ rate: (count / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1) });
    waiting = '';
  });
  const settled = (step: string): void => {
    bars.get(step)?.increment(1);
  };
  engine.on('step:failed', (e) => {
    settled(e.step);
    multibar.log(`failed: item "${e.itemId}" step ${e.step}: ${e.message}\n`);
  });
  engine.on('step:filtered', (e) => {
    settled(e.step);
    multibar.log(`filtered: item "${e.itemId}" step ${e.step}: ${e.reason}\n`);
  });
  engine.on('project:cooldown', (e) => {
    multibar.log(`quota: project ${e.project} ${e.perDay ? 'is out for the day' : 'cools down'} until ${new Date(e.untilMs).toISOString()}\n`);
    refreshStatus();
  });
  engine.on('project:disabled', (e) => multibar.log(`disabled: project ${e.project} for this run: ${e.reason}\n`));
  const operations = new Set<string>();
  engine.on('operation:pending', (e) => {
    operations.add(e.itemId);
    waiting = `waiting: ${operations.size} video operation(s) pending, polled until done`;
    refreshStatus();
  });
  engine.on('step:done', (e) => {
    if (operations.delete(e.itemId)) waiting = operations.size > 0 ? `waiting: ${operations.size} video operation(s) pending, polled until done` : '';
  });
  engine.on('run:waiting', (e) => {
    waiting = `waiting: ${e.reason} until ${new Date(e.untilMs).toISOString().slice(11, 19)}Z`;
    refreshStatus();
  });
  engine.on('run:stopping', (e) => {
    if (e.reason === 'cancelled') multibar.log('Stopping: no new items; waiting for the calls in flight (Ctrl-C again to exit now).\n');
  });
  engine.on('operations:left', (e) => multibar.log(`${operationsLeftLine(e.count)}\n`));
  engine.on('run:end', (e) => {
    clearInterval(timer);
    refreshStatus();
    multibar.stop();
    io.stderr.write(`${runEndLine(e, usd)}\n`);
    if (e.resultsFile) io.stderr.write(`Results: ${e.resultsFile}\n`);
  });
  engine.on('run:nothing', (e) => {
    io.stderr.write(`Nothing to do: all ${e.total} items are finished (${e.done} done, ${e.failed} failed or filtered). No API calls were made.\n`);
  });
}
