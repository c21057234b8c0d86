import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { EngineEvents } from '../engine/events.js';
import { GenbatchError } from '../errors/genbatch-error.js';
import type { Job } from '../job/job.js';
import { displayPath } from '../job/load-job.js';
import { subscribe, type EngineEventName, type EngineEventSource } from './event-source.js';
import { TurnBufferedFile } from './turn-buffered-file.js';
import { isSecretKey, REDACTED, scrubText, scrubValue } from './redact.js';

type Level = 'info' | 'warn' | 'error';

/** A file name part made of safe characters only. */
function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** Where a run's log goes by default: `.genbatch/logs/<job>-<runId>.jsonl`, beside the state file. */
export function runLogPath(job: Pick<Job, 'name' | 'stateFile'>, runId: string): string {
  return join(dirname(job.stateFile), 'logs', `${safeName(job.name)}-${safeName(runId)}.jsonl`);
}

/** An event field's name in the log (snake_case) and whether its value is a secret. */
interface FieldName {
  snake: string;
  /** `snake` as a JSON string, ready to write. */
  json: string;
  secret: boolean;
}

/** Event fields come from a few dozen names: each is converted once, not on every line. */
const FIELD_NAMES = new Map<string, FieldName>();
function fieldName(key: string): FieldName {
  let name = FIELD_NAMES.get(key);
  if (name === undefined) {
    const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    name = { snake, json: JSON.stringify(snake), secret: isSecretKey(snake) };
    FIELD_NAMES.set(key, name);
  }
  return name;
}

function snakeKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key in value) out[fieldName(key).snake] = snakeKeys((value as Record<string, unknown>)[key]);
  return out;
}

/** A field's value as the log shows it: strings scrubbed, secret keys censored at any depth. */
function logValue(name: FieldName, value: unknown, secrets: readonly string[]): string {
  if (name.secret && value !== null && value !== '') return `"${REDACTED}"`;
  if (typeof value === 'string') return JSON.stringify(scrubText(value, secrets));
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  return JSON.stringify(scrubValue(snakeKeys(value), secrets));
}

/**
 * One JSON line: `level`, `time`, the run's fixed fields, `event`, the event's fields and `message`.
 * Built by hand: a run writes three lines per call, and a logger's merging and copying cost some
 * 20 µs a line at hundreds of calls a second, more than the rest of the line.
 */
function jsonLine(level: Level, fixed: string, event: string, fields: Record<string, unknown>, message: string, secrets: readonly string[]): string {
  let line = `{"level":"${level}","time":"${new Date().toISOString()}",${fixed},"event":${JSON.stringify(event)}`;
  for (const key in fields) {
    const value = fields[key];
    if (value === undefined || key === 'message' || typeof value === 'function') continue;
    const name = fieldName(key);
    line += `,${name.json}:${logValue(name, value, secrets)}`;
  }
  return `${line},"message":${JSON.stringify(scrubText(message, secrets))}}\n`;
}

const usd = (n: number): string => `$${n.toFixed(6)}`;

/** Each event's level and one sentence for people reading the log; the fields carry the rest. */
const DESCRIBE: { [K in EngineEventName]: (e: EngineEvents[K][0]) => [Level, string] } = {
  'run:start': (e) => ['info', `run started: ${e.pending} of ${e.total} items have work left; ${e.recovered} step(s) recovered from a dead run`],
  'run:nothing': (e) => ['info', `nothing to do: all ${e.total} items are finished`],
  'step:start': (e) => ['info', `call started on ${e.project} (attempt ${e.attempt})`],
  'step:done': (e) =>
    e.truncated
      ? ['warn', `step done on ${e.project} for ${usd(e.costUsd)}, its reply cut at max_output_tokens and kept (on_truncated: keep)`]
      : ['info', `step done on ${e.project} for ${usd(e.costUsd)}${e.finishReason && e.finishReason !== 'STOP' ? ` (finish reason ${e.finishReason})` : ''}`],
  'step:failed': (e) => ['warn', e.message],
  'step:filtered': (e) => ['warn', `filtered: ${e.reason}`],
  'step:checks': (e) => {
    const failed = e.verdicts.filter((v) => !v.passed).map((v) => `${v.check} (${v.reason ?? 'failed'})`);
    const judged = e.verdicts.find((v) => v.score !== undefined);
    const score = judged ? `; judge scored ${judged.score}` : '';
    if (failed.length === 0) return ['info', `checks passed on attempt ${e.attempt}${score}`];
    const then =
      { regenerate: 'regenerating', failed: 'step failed', kept: 'kept, marked', review: 'kept and queued for review' }[e.outcome as string] ?? e.outcome;
    return ['warn', `checks failed on attempt ${e.attempt}: ${failed.join(', ')}${score}; ${then}`];
  },
  'call:end': (e) => [
    e.httpStatus === 200 && !e.errorCode ? 'info' : 'warn',
    `call to ${e.model} on ${e.project}: HTTP ${e.httpStatus}${e.errorCode ? ` ${e.errorCode}` : ''}`,
  ],
  'step:retry': (e) => ['warn', `retrying in ${e.delayMs} ms: ${e.message}`],
  'project:cooldown': (e) => [
    'warn',
    `project ${e.project} ${e.perDay ? 'is out for the day' : 'cools down'} until ${new Date(e.untilMs).toISOString()}: ${e.reason}`,
  ],
  'project:disabled': (e) => ['warn', `project ${e.project} disabled for this run: ${e.reason}`],
  'model:unavailable': (e) => ['warn', `project ${e.project} cannot use ${e.model} in this run: ${e.reason}`],
  'model:fallback': (e) => [
    'warn',
    e.model === e.primary ? `pool "${e.pool}": back to ${e.model} (${e.reason})` : `pool "${e.pool}": falling back to ${e.model} (${e.reason})`,
  ],
  'project:active': (e) => ['info', `project ${e.project} is active again`],
  'credentials:reloaded': (e) => [
    'info',
    `credentials reloaded (added: ${e.added.join(', ') || 'none'}; removed: ${e.removed.join(', ') || 'none'}; changed: ${e.changed.join(', ') || 'none'})`,
  ],
  'credentials:invalid': (e) => ['warn', `credentials file changed but is not valid; keeping the projects in use: ${e.message}`],
  'operation:pending': (e) => ['info', `${e.resumed ? 'polling the operation started before' : 'operation started'}: ${e.operationName}`],
  'run:waiting': (e) => ['warn', `waiting until ${new Date(e.untilMs).toISOString()}: ${e.reason}`],
  'run:stopping': (e) => ['warn', `stopping (${e.reason}): no new items, waiting for the calls in flight`],
  'operations:left': (e) => ['warn', `${e.count} video operation(s) still running at Vertex; their names are saved and a resume polls them`],
  'batch:submitted': (e) => [
    'info',
    `batch job ${e.resumed ? 'found again' : 'submitted'} for step ${e.step} on ${e.project}: ${e.name} (${e.requests} requests)`,
  ],
  'batch:state': (e) => ['info', `batch job ${e.name}: ${e.state} (${e.succeeded} ok, ${e.failed} failed)`],
  'batch:settled': (e) => [
    e.requeued > 0 || e.unmatched !== undefined || e.damaged !== undefined ? 'warn' : 'info',
    `batch job ${e.name} ended ${e.state}: ${e.succeeded} ok, ${e.failed} failed${e.requeued > 0 ? `, ${e.requeued} back to pending (${e.reason ?? ''})` : ''}${
      e.unmatched !== undefined ? `, ${e.unmatched} line(s) matching no item, ${e.missing ?? 0} item(s) without a line` : ''
    }${e.unreadable ? `, ${e.unreadable} billed line(s) unreadable` : ''}${e.damaged ? `, ${e.damaged} line(s) not JSON` : ''}`,
  ],
  'batch:stopped': (e) => ['error', `batch step ${e.step} stopped (${e.code}): ${e.message}`],
  'batches:left': (e) => ['warn', `${e.count} batch job(s) (${e.requests} requests) still running at Vertex; the next run collects them`],
  'run:end': (e) => [
    e.exitCode === 0 ? 'info' : e.exitCode === 1 ? 'warn' : 'error',
    `run ended: ${e.outcome} (exit ${e.exitCode}), ${usd(e.costUsd)} over ${e.requests} calls`,
  ],
};

/** Every engine event the log writes a line for (all of them). */
export const LOGGED_EVENTS = Object.keys(DESCRIBE) as EngineEventName[];

export interface RunLogOptions {
  job: Pick<Job, 'name' | 'stateFile'>;
  /** Default: runLogPath(job, engine.runId). */
  file?: string;
  /** Secret values to remove wherever they appear (see secretsOf(credentials)). */
  secrets?: readonly string[];
  /** Called once if the file cannot be written mid-run (disk full...); the run goes on without its log. */
  onError?: (error: Error) => void;
}

export interface RunLog {
  file: string;
  /** Adds a line of the run's own (e.g. the notification's outcome), scrubbed like the rest. */
  note(event: string, fields: Record<string, unknown>, message: string, level?: Level): void;
  /** Stops listening and closes the file. */
  close(): void;
}

/**
 * Writes a run's events as JSON lines, one per event: `time`, `level`, `job`, `run_id`, `event`,
 * the event's fields in snake_case (`item_id`, `step`, `project`, `code`...) and a `message`.
 * Lines are written once per event-loop turn (TurnBufferedFile), so a `kill -9` loses only the
 * events of the last millisecond or so. Key material never
 * reaches the file: known secrets and secret-shaped text are scrubbed from every string, and
 * secret keys are censored at any depth (see jsonLine).
 */
export function attachRunLog(engine: EngineEventSource, options: RunLogOptions): RunLog {
  const runId = engine.runId ?? 'run';
  const file = options.file ?? runLogPath(options.job, runId);
  const secrets = options.secrets ?? [];
  let failed = false;
  let destination: TurnBufferedFile;
  try {
    mkdirSync(dirname(file), { recursive: true });
    destination = new TurnBufferedFile(file, (error) => {
      failed = true;
      options.onError?.(error);
    });
  } catch (error) {
    throw new GenbatchError(`Cannot write the run log ${displayPath(file)}: ${(error as Error).message}`, {
      code: 'RUN_LOG_UNWRITABLE',
      exitCode: 2,
      hint: 'Check the folder exists and is writable, or choose another file with --log FILE. Nothing was sent.',
      cause: error,
    });
  }
  const fixed = `"job":${JSON.stringify(scrubText(options.job.name, secrets))},"run_id":${JSON.stringify(scrubText(runId, secrets))},"pid":${process.pid}`;

  const write = (level: Level, event: string, fields: Record<string, unknown>, message: string): void => {
    if (failed) return;
    destination.write(jsonLine(level, fixed, event, fields, message, secrets));
  };

  const listeners: { [K in EngineEventName]?: (...args: EngineEvents[K]) => void } = {};
  for (const name of Object.keys(DESCRIBE) as EngineEventName[]) {
    const describe = DESCRIBE[name] as (e: unknown) => [Level, string];
    (listeners as Record<string, (e: unknown) => void>)[name] = (e) => {
      const [level, message] = describe(e);
      // The event's own `message` field becomes the line's message, not a second key (jsonLine skips it).
      write(level, name, e as Record<string, unknown>, message);
    };
  }
  const unsubscribe = subscribe(engine, listeners);
  let closed = false;
  return {
    file,
    note: (event, fields, message, level = 'info') => {
      if (!closed) write(level, event, fields, message);
    },
    close: () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      try {
        destination.close();
      } catch {
        // The file is gone or the disk is full (reported through onError); nothing more to flush.
      }
    },
  };
}
