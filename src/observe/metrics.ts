import { createServer } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ProjectSnapshot } from '../engine/events.js';
import { readCounts } from '../engine/status.js';
import { GenbatchError } from '../errors/genbatch-error.js';
import { writeFileAtomic } from '../outputs/atomic-write.js';
import type { StatusReadModel } from '../store/interfaces/status-read-model.js';
import { STEP_STATES, type StepState } from '../store/step-state.js';
import type { SharedFigures } from '../coordination/run-coordination.js';
import { subscribe, type EngineEventSource } from './event-source.js';
import { scrubText } from './redact.js';

const PROJECT_STATES: readonly ProjectSnapshot['state'][] = ['active', 'cooling', 'probing', 'exhausted', 'disabled'];

/** Every metric genbatch exports (docs/observability.md describes each). */
export const METRIC_NAMES = [
  'genbatch_requests_total',
  'genbatch_tokens_total',
  'genbatch_cost_usd_total',
  'genbatch_images_total',
  'genbatch_video_seconds_total',
  'genbatch_call_duration_seconds',
  'genbatch_steps_total',
  'genbatch_items',
  'genbatch_cooldowns_total',
  'genbatch_project_state',
  'genbatch_run_start_timestamp_seconds',
  'genbatch_run_end_timestamp_seconds',
  'genbatch_run_exit_code',
  'genbatch_run_duration_seconds',
  'genbatch_coordination_up',
  'genbatch_shared_runs',
  'genbatch_shared_cooldowns',
  'genbatch_shared_budget_usd',
] as const;

export interface RunMetricsOptions {
  /** Added as the label `genbatch_job` to every series, so several jobs can share one textfile folder. */
  job?: string;
  /** Default: a fresh Registry. */
  registry?: Registry;
}

export interface RunMetrics {
  registry: Registry;
  /**
   * Feeds the metrics from another engine too (e.g. the main pass after a pilot): the counters go
   * on adding up. Returns a function that stops listening to that engine.
   */
  attach(engine: EngineEventSource): () => void;
  /** Stops listening to every engine (the registry keeps its values). */
  detach(): void;
}

/** Label values come from names in the credentials and job files; scrubbed all the same. */
const label = (value: string): string => scrubText(value);

/**
 * Prometheus metrics for a run, fed by the engine's events: calls, tokens and cost per project and
 * model (from `call:end`), step outcomes, cooldowns, project health, and the run's end (exit code,
 * timestamps). With a store, `genbatch_items{state}` is read from the state file at each scrape.
 */
export function createRunMetrics(engine: EngineEventSource | undefined, store?: StatusReadModel, options: RunMetricsOptions = {}): RunMetrics {
  const registry = options.registry ?? new Registry();
  if (options.job) registry.setDefaultLabels({ genbatch_job: options.job });
  const registers = [registry];

  const requests = new Counter({
    name: 'genbatch_requests_total',
    help: 'API calls made, by project, model and HTTP status (0: no HTTP reply).',
    labelNames: ['project', 'model', 'status'],
    registers,
  });
  const tokens = new Counter({
    name: 'genbatch_tokens_total',
    help: 'Tokens billed, by project, model and kind (input, output, thoughts).',
    labelNames: ['project', 'model', 'kind'],
    registers,
  });
  const cost = new Counter({
    name: 'genbatch_cost_usd_total',
    help: 'Cost of the calls in US dollars, priced from the catalog.',
    labelNames: ['project', 'model'],
    registers,
  });
  const images = new Counter({ name: 'genbatch_images_total', help: 'Images generated.', labelNames: ['project', 'model'], registers });
  const videoSeconds = new Counter({ name: 'genbatch_video_seconds_total', help: 'Seconds of video generated.', labelNames: ['project', 'model'], registers });
  const callDuration = new Histogram({
    name: 'genbatch_call_duration_seconds',
    help: 'Duration of API calls.',
    labelNames: ['project', 'model'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers,
  });
  const steps = new Counter({
    name: 'genbatch_steps_total',
    help: 'Step outcomes: done, failed, filtered, retry.',
    labelNames: ['step', 'outcome'],
    registers,
  });
  const checks = new Counter({
    name: 'genbatch_checks_total',
    help: 'Check verdicts on outputs (issue 28), by step, check and outcome (passed, failed).',
    labelNames: ['step', 'check', 'outcome'],
    registers,
  });
  const checkOutcomes = new Counter({
    name: 'genbatch_check_outcomes_total',
    help: 'What the checks of an output came to, by step: passed, regenerated, regenerate (another attempt), kept, review, failed.',
    labelNames: ['step', 'outcome'],
    registers,
  });
  const cooldowns = new Counter({
    name: 'genbatch_cooldowns_total',
    help: 'Times a project was cooled down after a quota rejection (429).',
    labelNames: ['project'],
    registers,
  });
  // Run gauges appear only once they have a value: an exit code of 0 before the run ended would lie.
  const runGauge = (name: string, help: string): { (): Gauge; clear(): void } => {
    let gauge: Gauge | undefined;
    const get = (): Gauge => (gauge ??= new Gauge({ name, help, registers }));
    return Object.assign(get, {
      clear: () => {
        if (gauge) registry.removeSingleMetric(name);
        gauge = undefined;
      },
    });
  };
  const runStart = runGauge('genbatch_run_start_timestamp_seconds', 'When the current or last run started (Unix time).');
  const runEnd = runGauge('genbatch_run_end_timestamp_seconds', 'When the last run ended (Unix time); absent while the run goes.');
  const runExit = runGauge(
    'genbatch_run_exit_code',
    'Exit code of the run (0 done, 1 failed items, 3 budget, 4 cancelled, 75 stalled); absent while the run goes.',
  );
  const runDuration = runGauge('genbatch_run_duration_seconds', 'Duration of the run; absent while it goes.');

  let lastItems: Record<StepState, number> | undefined;
  const readItems = (): void => {
    if (store?.isOpen) lastItems = readCounts(store).items;
  };
  if (store) {
    new Gauge({
      name: 'genbatch_items',
      help: 'Items by state (done when every step is done), read from the state file.',
      labelNames: ['state'],
      registers,
      collect() {
        readItems();
        if (!lastItems) return;
        for (const state of STEP_STATES) this.set({ state }, lastItems[state]);
      },
    });
  }

  // Project health: the latest engine's own view when it has one, else what the events said.
  let latest: EngineEventSource | undefined;
  const projectStates = new Map<string, ProjectSnapshot['state']>();
  new Gauge({
    name: 'genbatch_project_state',
    help: 'Project health: 1 for the state the project is in, 0 for the others.',
    labelNames: ['project', 'state'],
    registers,
    collect() {
      if (latest?.projects) {
        try {
          for (const p of latest.projects()) projectStates.set(p.name, p.state);
        } catch {
          // A finished engine may have nothing to report; keep what the events said.
        }
      }
      this.reset();
      for (const [project, current] of projectStates) {
        for (const state of PROJECT_STATES) this.set({ project: label(project), state }, state === current ? 1 : 0);
      }
    },
  });

  // What the run shares with other runs on its projects (absent when it coordinates with none, e.g. --emulator).
  const shared = (): SharedFigures | undefined => {
    try {
      return latest?.shared?.();
    } catch {
      return undefined;
    }
  };
  new Gauge({
    name: 'genbatch_coordination_up',
    help: "Whether the coordination the run shares limits, cooldowns and budgets through is reachable (1) or not (0), by kind (local: this host's shared file; redis).",
    labelNames: ['kind'],
    registers,
    collect() {
      const figures = shared();
      this.reset();
      if (figures) this.set({ kind: figures.kind }, figures.up ? 1 : 0);
    },
  });
  new Gauge({
    name: 'genbatch_shared_runs',
    help: 'Other runs going now that use the project (on this host, or through Redis on any).',
    labelNames: ['project'],
    registers,
    collect() {
      const figures = shared();
      if (!figures) return;
      this.reset();
      const counts = new Map<string, number>();
      for (const run of figures.otherRuns) for (const project of run.projects) counts.set(project, (counts.get(project) ?? 0) + 1);
      for (const [project, n] of counts) this.set({ project: label(project) }, n);
    },
  });
  new Gauge({
    name: 'genbatch_shared_cooldowns',
    help: 'Cooldowns of a project that other runs passed on (their 429s) since this run started.',
    labelNames: ['project'],
    registers,
    collect() {
      const figures = shared();
      if (!figures) return;
      for (const [project, n] of Object.entries(figures.cooldownsReceived)) this.set({ project: label(project) }, n);
    },
  });
  new Gauge({
    name: 'genbatch_shared_budget_usd',
    help: "The credentials file's shared daily budget (budget.daily_usd): daily (the cap), spent (today, by every job using the file) and held (for calls in flight).",
    labelNames: ['kind'],
    registers,
    collect() {
      const budget = shared()?.budget;
      if (!budget) return;
      this.set({ kind: 'daily' }, budget.dailyUsd);
      this.set({ kind: 'spent' }, budget.spentUsd);
      this.set({ kind: 'held' }, budget.heldUsd);
    },
  });

  const listeners: Parameters<typeof subscribe>[1] = {
    'run:start': () => {
      // A new pass (the main run after a pilot) has not ended yet.
      for (const gauge of [runEnd, runExit, runDuration]) gauge.clear();
      runStart().set(Date.now() / 1000);
      readItems();
    },
    'call:end': (e) => {
      const labels = { project: label(e.project), model: label(e.model) };
      requests.inc({ ...labels, status: String(e.httpStatus) });
      tokens.inc({ ...labels, kind: 'input' }, e.usage.inputTokens);
      tokens.inc({ ...labels, kind: 'output' }, e.usage.outputTokens);
      tokens.inc({ ...labels, kind: 'thoughts' }, e.usage.thoughtsTokens);
      cost.inc(labels, e.costUsd);
      if (e.usage.images > 0) images.inc(labels, e.usage.images);
      if (e.usage.videoSeconds > 0) videoSeconds.inc(labels, e.usage.videoSeconds);
      callDuration.observe(labels, e.durationMs / 1000);
    },
    'step:done': (e) => steps.inc({ step: label(e.step), outcome: 'done' }),
    'step:failed': (e) => steps.inc({ step: label(e.step), outcome: 'failed' }),
    'step:filtered': (e) => steps.inc({ step: label(e.step), outcome: 'filtered' }),
    'step:retry': (e) => steps.inc({ step: label(e.step), outcome: 'retry' }),
    'step:checks': (e) => {
      for (const v of e.verdicts) checks.inc({ step: label(e.step), check: label(v.check), outcome: v.passed ? 'passed' : 'failed' });
      checkOutcomes.inc({ step: label(e.step), outcome: e.outcome });
    },
    'project:cooldown': (e) => {
      cooldowns.inc({ project: label(e.project) });
      projectStates.set(e.project, e.perDay ? 'exhausted' : 'cooling');
    },
    'project:disabled': (e) => projectStates.set(e.project, 'disabled'),
    'project:active': (e) => projectStates.set(e.project, 'active'),
    'run:end': (e) => {
      runEnd().set(Date.now() / 1000);
      runExit().set(e.exitCode);
      runDuration().set(e.durationMs / 1000);
      readItems();
    },
  };
  const unsubscribers = new Set<() => void>();
  const attach = (source: EngineEventSource): (() => void) => {
    latest = source;
    const off = subscribe(source, listeners);
    const stop = (): void => {
      off();
      unsubscribers.delete(stop);
    };
    unsubscribers.add(stop);
    return stop;
  };
  if (engine) attach(engine);
  return {
    registry,
    attach,
    detach: () => {
      for (const stop of [...unsubscribers]) stop();
    },
  };
}

export interface MetricsServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` for Prometheus to scrape while a run goes. Listens on 127.0.0.1 unless a
 * host is given (`0.0.0.0` to be scraped from another machine); port 0 picks a free one.
 */
export async function serveMetrics(registry: Registry, port: number, host = '127.0.0.1'): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: metrics are served at /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${scrubText(String(error))}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new GenbatchError(`Cannot serve metrics on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}.`, {
          code: 'METRICS_PORT',
          exitCode: 2,
          hint: 'Choose another port with --metrics-port, or 0 for any free port.',
          cause: error,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}/metrics`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Writes the metrics in the Prometheus text format for node_exporter's textfile collector, atomically:
 * a temp file in the same folder (not ending in .prom, so the collector never reads it half-written),
 * flushed, then renamed over `file`.
 */
export async function writeMetricsFile(registry: Registry, file: string): Promise<void> {
  await writeFileAtomic(file, await registry.metrics(), { fsync: true });
}

/**
 * Rewrites the metrics file every `everyMs` while a long run goes (so a scrape mid-run sees
 * progress), and once more when stopped. Write errors are reported to `onError`, never thrown.
 */
export function writeMetricsFilePeriodically(
  registry: Registry,
  file: string,
  everyMs = 15_000,
  onError: (error: unknown) => void = () => undefined,
): () => Promise<void> {
  let pending: Promise<void> = Promise.resolve();
  const writeOnce = (): Promise<void> => {
    pending = pending.then(() => writeMetricsFile(registry, file)).catch(onError);
    return pending;
  };
  const timer = setInterval(() => void writeOnce(), everyMs);
  timer.unref();
  void writeOnce();
  return async () => {
    clearInterval(timer);
    await writeOnce();
  };
}
