import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EmulatorCounters } from '../emulator-stats.js';
import type { HandlerContext } from '../handlers/model-call.js';
import type { ObjectStore } from '../storage/object-store.js';
import { answerLine } from './batch-line.js';
import type { BatchJob, FinalState, RpcStatus } from './batch-job.js';
import { isBlankLine, readLines } from './jsonl-lines.js';
import { seededRandom, type Rng } from '../seeded-random.js';

/**
 * Runs one batch job: waits out its queue time, then answers its lines in order, each at its due
 * time (the run spreads them evenly over `run_ms`), and writes `predictions.jsonl` under the output
 * directory, in another order than the input's unless `batch.shuffle` is off. A cancel or an expiry stops it: the lines due before that moment are answered, written
 * and counted, the rest stay incomplete. Going by the schedule rather than by when the runner got
 * to a line keeps the outcome the same on a busy machine. A line is counted in the stats exactly
 * when it is written.
 */
export interface RunnerDeps {
  store: ObjectStore;
  count(job: BatchJob, increments: Partial<EmulatorCounters>): void;
  context(): HandlerContext;
  /** Resolves at `at`, or sooner when the job is woken (cancel, expiry, close). */
  sleepUntil(job: BatchJob, at: number): Promise<void>;
  closed(): boolean;
}

/** Lines answered back to back before letting other requests in. */
const LINES_PER_TURN = 64;
/** Output lines are shuffled within blocks of this many (a whole 200,000-line job is never held). */
const SHUFFLE_BLOCK = 1000;

/**
 * The order a block of output lines is written in: as answered, or (batch.shuffle) a seeded
 * permutation that is never the input order, as Vertex keeps no order.
 */
export function outputOrder(lines: readonly string[], shuffle: boolean, rng: Rng): string[] {
  const out = [...lines];
  if (!shuffle || out.length < 2) return out;
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j] as string, out[i] as string];
  }
  // A permutation drawn as the identity is rotated by one: the order is always another.
  if (out.every((line, i) => line === lines[i])) out.push(out.shift() as string);
  return out;
}

type Stop = 'cancelled' | 'expired' | 'closed';

/** Why the line due at `due` is not answered, if it is not. */
function stopReason(job: BatchJob, deps: RunnerDeps, due: number): Stop | undefined {
  if (deps.closed()) return 'closed';
  if (job.cancelRequestedAt !== undefined && due > job.cancelRequestedAt) return 'cancelled';
  const expireAt = job.expireAt;
  if (expireAt !== undefined && due > expireAt) return 'expired';
  return undefined;
}

export async function runBatchJob(job: BatchJob, deps: RunnerDeps): Promise<void> {
  const f = job.fields;
  // Read afresh at every wait: POST /_emulator/batch/expire moves it.
  const expireAt = (): number => job.expireAt ?? Infinity;
  await deps.sleepUntil(job, Math.min(job.runStartAt, expireAt()));
  if (deps.closed()) return;

  const writer = deps.store.writer();
  // Cancelled or expired while it waited: it never starts (its input is not even read).
  let stop = stopReason(job, deps, job.runStartAt);
  let failure: RpcStatus | undefined;
  let index = 0;
  // Answered lines wait in a block and are written in the block's output order (reproducible for a seed and input).
  const rng = seededRandom(deps.context().config.seed, 'batch-shuffle', f.model, f.requestCount);
  let block: string[] = [];
  const flush = async (): Promise<void> => {
    for (const line of outputOrder(block, f.config.shuffle, rng)) await writer.write(Buffer.from(`${line}\n`));
    block = [];
  };
  try {
    outer: for (const input of stop ? [] : f.inputs) {
      for await (const raw of readLines(input.blob.stream())) {
        if (isBlankLine(raw)) continue;
        const due = job.runStartAt + (f.config.run_ms * (index + 1)) / f.requestCount;
        if (due - Date.now() > 1) await deps.sleepUntil(job, Math.min(due, expireAt()));
        else if (index % LINES_PER_TURN === LINES_PER_TURN - 1) await nextTurn();
        stop = stopReason(job, deps, due);
        if (stop) break outer;
        const outcome = await answerLine(raw, { project: f.project, location: f.location, model: f.model }, deps.context(), {
          lineFailRate: f.config.line_fail_rate,
          echoKey: f.config.echo_key,
        });
        if (deps.closed()) break outer;
        block.push(outcome.line);
        if (block.length >= SHUFFLE_BLOCK) await flush();
        if (outcome.ok) job.succeeded++;
        else job.failed++;
        deps.count(
          job,
          outcome.ok
            ? {
                batch_ok: 1,
                batch_input_tokens: outcome.inputTokens,
                batch_cached_input_tokens: outcome.cachedTokens,
                batch_output_tokens: outcome.outputTokens,
              }
            : { batch_failed: 1 },
        );
        index++;
      }
    }
  } catch (error) {
    failure = { code: 13, message: `Batch prediction failed while reading its input: ${(error as Error).message}` };
  }
  if (stop === 'closed' || deps.closed()) {
    await writer.abort();
    return;
  }

  await flush();
  const blob = await writer.finish();
  if (index > 0) {
    deps.store.put(f.outputDirectory.bucket, `${f.outputDirectory.name}/predictions.jsonl`, blob, { contentType: 'application/jsonl' });
  } else {
    await blob.dispose();
  }
  job.final = finalState(job, stop, failure);
}

function finalState(job: BatchJob, stop: Stop | undefined, failure: RpcStatus | undefined): NonNullable<BatchJob['final']> {
  const now = Date.now();
  const { requestCount } = job.fields;
  const incomplete = requestCount - job.succeeded - job.failed;
  if (stop === 'cancelled') {
    const at = Math.max(now, (job.cancelRequestedAt ?? now) + job.fields.config.cancel_ms);
    return {
      state: 'JOB_STATE_CANCELLED',
      at,
      error: { code: 1, message: `CANCELED: the job was cancelled with ${incomplete} of ${requestCount} requests unfinished.` },
    };
  }
  if (stop === 'expired') {
    const message = `Batch prediction job expired: it did not finish in time (emulator batch.expire_after_ms or POST /_emulator/batch/expire); ${incomplete} of ${requestCount} requests unfinished.`;
    return { state: 'JOB_STATE_EXPIRED', at: now, error: { code: 4, message } };
  }
  if (failure) return { state: 'JOB_STATE_FAILED', at: now, error: failure };
  if (job.succeeded === 0) {
    return { state: 'JOB_STATE_FAILED', at: now, error: { code: 13, message: `All ${requestCount} requests failed; see the status field of each line.` } };
  }
  const state: FinalState = job.failed > 0 ? 'JOB_STATE_PARTIALLY_SUCCEEDED' : 'JOB_STATE_SUCCEEDED';
  return { state, at: now };
}
