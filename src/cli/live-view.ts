import cliProgress from 'cli-progress';
import type { Engine } from '../engine/engine.js';
import type { CapacityWindowSnapshot } from '../coordination/project-pool.js';
import type { ProjectSnapshot } from '../engine/events.js';
import { formatDuration } from '../job/duration.js';
import type { CliIO } from './io.js';
import { nothingLine, operationsLeftLine, runEndLine } from './render-spend.js';
import { formatEta, SmoothedEta } from './smoothed-eta.js';

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

/** Shared capacity per model and location: the window, calls in flight and the share of 429s. */
export function capacityLine(windows: readonly CapacityWindowSnapshot[]): string {
  return windows.map((w) => `${w.model}@${w.location}: window ${w.limit}, ${w.inFlight} in flight, ${(100 * w.refusedShare).toFixed(1)}% 429`).join(' | ');
}

/** One line that fits `width` columns: cut with "…" (the bars' terminal has line wrapping off, so it would be cut anyway, silently). */
export function fitLine(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** Text wrapped at word boundaries into lines of at most `width` columns (a longer word is broken). */
export function wrapLines(text: string, width: number): string[] {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let current = '';
    for (const word of paragraph.split(' ')) {
      let rest = word;
      while (rest.length > width) {
        if (current) out.push(current);
        current = '';
        out.push(rest.slice(0, width));
        rest = rest.slice(width);
      }
      if (!current) current = rest;
      else if (current.length + 1 + rest.length <= width) current += ` ${rest}`;
      else {
        out.push(current);
        current = rest;
      }
    }
    out.push(current);
  }
  return out;
}

/**
 * The live view on a terminal: the run's header line, a bar per step (done/total, rate, a smoothed
 * ETA), this run's spend against this run's estimate, each project's state, and what the run is
 * waiting for. Every line fits the terminal's width (messages are wrapped, status lines cut), so
 * nothing runs into the bars at 80 columns. Events only; it never steers.
 */
export function attachLiveView(engine: Engine, io: CliIO, options: { estimateUsd?: number } = {}): void {
  // A pty without a size (some CI runners, `script` without a terminal) reports 0 columns: COLUMNS, else 80.
  const columns = (): number => Math.max(40, (io.stderr as { columns?: number }).columns || Number(process.env.COLUMNS) || 80);
  const width = (): number => columns() - 1;
  let multibar: cliProgress.MultiBar | undefined;
  const bars = new Map<string, { bar: cliProgress.SingleBar; total: number; settled: number; eta: SmoothedEta }>();
  let spendBar: cliProgress.SingleBar | undefined;
  let projectsBar: cliProgress.SingleBar | undefined;
  let spent = 0;
  let waiting = '';
  // Rates and ETAs run on the monotonic clock: a wall-clock step (NTP, a VM resumed) does not bend them.
  let started = performance.now();
  let stepWidth = 10;

  /** A message above the bars, wrapped to the width; straight to the terminal before the bars exist. */
  const log = (text: string): void => {
    const lines = `${wrapLines(text, width()).join('\n')}\n`;
    if (multibar) multibar.log(lines);
    else io.stderr.write(lines);
  };

  const refreshBars = (): void => {
    const now = performance.now();
    for (const [, entry] of bars) {
      entry.eta.observe(entry.settled, now);
      const elapsed = Math.max(0.001, (now - started) / 1000);
      entry.bar.update(entry.settled, { rate: (entry.settled / elapsed).toFixed(1), left: formatEta(entry.eta.etaMs(entry.total - entry.settled, now)) });
    }
  };
  const refreshStatus = (): void => {
    const estimate = options.estimateUsd === undefined ? '' : ` of ~${usd(options.estimateUsd)} estimated`;
    spendBar?.update(0, { line: fitLine(` spent this run ${usd(spent)}${estimate}${waiting ? ` · ${waiting}` : ''}`, width()) });
    const capacity = capacityLine(engine.capacityWindows());
    projectsBar?.update(0, { line: fitLine(` ${projectLine(engine.projects(), Date.now())}${capacity ? ` | ${capacity}` : ''}`, width()) });
  };
  const timer = setInterval(() => {
    refreshBars();
    refreshStatus();
  }, 1000);
  timer.unref();

  engine.on('run:start', (e) => {
    started = performance.now();
    // The header first, on its own lines, before the bars take the bottom of the screen.
    if (e.recovered > 0) log(`Recovered ${e.recovered} step(s) left running by a run that died; they are redone.`);
    log(`Run ${e.runId}: ${e.pending} of ${e.total} items have work left (steps: ${e.steps.join(' → ')}).`);
    stepWidth = Math.min(14, Math.max(4, ...e.steps.map((s) => s.length)));
    const digits = String(e.pending).length;
    // ' step |bar| 123/456 12.3/s ETA 1m30s': what is not the bar, and the bar gets the rest (10–40).
    const fixed = 1 + stepWidth + 2 + 2 + digits * 2 + 1 + 1 + 8 + 4 + 6;
    multibar = new cliProgress.MultiBar(
      {
        stream: io.stderr,
        format: ' {step} |{bar}| {value}/{total} {rate}/s ETA {left}',
        barsize: Math.max(10, Math.min(40, columns() - fixed - 1)),
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        forceRedraw: true,
        fps: 5,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
    for (const step of e.steps) {
      const name = fitLine(step, stepWidth).padEnd(stepWidth);
      // The steps left, not the items: after a resume, part of an item's steps may be done already.
      const total = e.pendingSteps[step] ?? 0;
      bars.set(step, { bar: multibar.create(total, 0, { step: name, rate: '0.0', left: '?' }), total, settled: 0, eta: new SmoothedEta() });
    }
    spendBar = multibar.create(1, 0, { line: '' }, { format: '{line}' });
    projectsBar = multibar.create(1, 0, { line: '' }, { format: '{line}' });
    refreshStatus();
  });
  // This run's spend: every call this run made, as the ledger records it (failed calls that cost included).
  engine.on('call:end', (e) => {
    spent += e.costUsd;
  });
  const settled = (step: string): void => {
    const entry = bars.get(step);
    if (!entry) return;
    entry.settled += 1;
    entry.eta.observe(entry.settled, performance.now());
    refreshBars();
  };
  const operations = new Set<string>();
  const operationsWaiting = (): string => (operations.size > 0 ? `${operations.size} video operation(s) rendering, polled until done` : '');
  engine.on('step:done', (e) => {
    settled(e.step);
    if (operations.delete(e.itemId) || waiting) waiting = operationsWaiting();
  });
  // A failed or filtered step ends its item: the later steps' bars will not see it.
  const ended = (step: string): void => {
    const names = [...bars.keys()];
    for (const later of names.slice(names.indexOf(step) + 1)) {
      const entry = bars.get(later);
      if (!entry) continue;
      entry.total = Math.max(entry.settled, entry.total - 1);
      entry.bar.setTotal(entry.total);
    }
  };
  engine.on('step:failed', (e) => {
    settled(e.step);
    ended(e.step);
    log(`failed: item "${e.itemId}" step ${e.step}: ${e.message}`);
  });
  engine.on('step:filtered', (e) => {
    settled(e.step);
    ended(e.step);
    log(`filtered: item "${e.itemId}" step ${e.step}: ${e.reason}`);
  });
  engine.on('project:cooldown', (e) => {
    log(`quota: project ${e.project} ${e.perDay ? 'is out for the day' : 'cools down'} until ${new Date(e.untilMs).toISOString()}`);
    refreshStatus();
  });
  engine.on('project:disabled', (e) => log(`disabled: project ${e.project} for this run: ${e.reason}`));
  engine.on('model:unavailable', (e) => log(`unavailable: ${e.model} on project ${e.project} for this run`));
  engine.on('model:fallback', (e) => log(e.model === e.primary ? `fallback: back to ${e.model}` : `fallback: ${e.model} instead of ${e.primary}`));
  engine.on('operation:pending', (e) => {
    operations.add(e.itemId);
    waiting = operationsWaiting();
    refreshStatus();
  });
  engine.on('run:waiting', (e) => {
    waiting = `waiting: ${e.reason} until ${new Date(e.untilMs).toISOString().slice(11, 19)}Z`;
    refreshStatus();
  });
  engine.on('run:stopping', (e) => {
    if (e.reason === 'cancelled') log('Stopping: no new items; waiting for the calls in flight (Ctrl-C again to exit now).');
  });
  engine.on('operations:left', (e) => log(operationsLeftLine(e.count)));
  engine.on('run:end', (e) => {
    clearInterval(timer);
    refreshBars();
    refreshStatus();
    multibar?.stop();
    multibar = undefined;
    log(runEndLine(e, usd));
    if (e.resultsFile) log(`Results: ${e.resultsFile}`);
  });
  engine.on('run:nothing', (e) => {
    clearInterval(timer);
    log(nothingLine(e));
  });
}
