import type { ProjectPool } from '../coordination/project-pool.js';
import { steadyNow } from '../resilience/steady-clock.js';
import type { EngineEvents } from './events.js';
import { MAX_FAILED_POLLS } from './executors/online-executor.js';
import type { ParkedOperation, Settled, StepExecutor } from './executors/step-executor.js';
import type { Unit } from './unit.js';

/** A video operation running at Vertex, polled between other work. */
interface Parked {
  operation: ParkedOperation;
  units: Unit[];
  polls: number;
  failedPolls: number;
  nextAt: number;
  polling: boolean;
}

export interface OperationPollerOptions {
  executor: StepExecutor;
  pool: ProjectPool;
  emit: <K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]) => void;
  /** An operation ended (done, failed, or its polls gave out): its units' verdicts. */
  settled: (settled: Settled[]) => void;
  /** An error no reaction covers. */
  failed: (error: unknown) => void;
  /** A poll ended: the scheduler looks again. */
  changed: () => void;
}

/**
 * Long-running operations (Veo videos) parked while Vertex works: polled on their own schedule,
 * without a call slot or a limiter, on the client of the project that started them.
 */
export class OperationPoller {
  private readonly parked: Parked[] = [];
  private pollsInFlight = 0;

  constructor(private readonly options: OperationPollerOptions) {}

  /** Operations waiting at Vertex. */
  get count(): number {
    return this.parked.length;
  }

  /** Whether any operation is parked or being polled (the run has work). */
  get busy(): boolean {
    return this.parked.length > 0 || this.pollsInFlight > 0;
  }

  /** Whether a poll is in flight (a stopping run waits for it). */
  get polling(): boolean {
    return this.pollsInFlight > 0;
  }

  park(operation: ParkedOperation, units: Unit[], resumed: boolean): void {
    this.parked.push({ operation, units, polls: 0, failedPolls: 0, nextAt: steadyNow() + this.options.executor.pollDelayMs(0), polling: false });
    const lead = units[0];
    if (resumed && lead)
      this.options.emit('operation:pending', { itemId: lead.item.id, step: lead.step.name, operationName: operation.operationName, resumed: true });
  }

  /** Polls the operations that are due; returns when the next one is (Infinity: none parked). */
  tick(now: number): number {
    let nextAt = Number.POSITIVE_INFINITY;
    for (const entry of this.parked) {
      if (entry.polling) continue;
      if (entry.nextAt <= now) this.poll(entry);
      else nextAt = Math.min(nextAt, entry.nextAt);
    }
    return nextAt;
  }

  private poll(entry: Parked): void {
    const { executor, pool } = this.options;
    entry.polling = true;
    this.pollsInFlight += 1;
    const client = pool.clientFor(entry.operation.project);
    const polled = client
      ? executor.poll(entry.operation, client)
      : Promise.resolve({ kind: 'poll_failed' as const, error: new Error(`project "${entry.operation.project}" that started the operation is gone`) });
    void polled
      .then(async (outcome) => {
        if (outcome.kind === 'settled') {
          this.remove(entry);
          this.options.settled(outcome.settled);
          return;
        }
        entry.polls += 1;
        entry.nextAt = steadyNow() + executor.pollDelayMs(entry.polls);
        if (outcome.kind === 'running') {
          entry.failedPolls = 0;
          return;
        }
        entry.failedPolls += 1;
        if (entry.failedPolls > MAX_FAILED_POLLS || !client) {
          this.remove(entry);
          this.options.settled(await executor.pollsExhausted(entry.operation, outcome.error));
        }
      })
      .catch((error: unknown) => this.options.failed(error))
      .finally(() => {
        entry.polling = false;
        this.pollsInFlight -= 1;
        this.options.changed();
      });
  }

  private remove(entry: Parked): void {
    const index = this.parked.indexOf(entry);
    if (index >= 0) this.parked.splice(index, 1);
  }
}
