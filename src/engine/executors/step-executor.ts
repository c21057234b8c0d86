import type { GenbatchError } from '../../errors/genbatch-error.js';
import type { GoogleGenAI } from '@google/genai';
import type { Lease } from '../../coordination/project-pool.js';
import type { Step } from '../../job/job.js';
import type { ProviderRequest } from '../../providers/provider.js';
import type { BudgetHold } from '../budget-hold.js';
import type { RenderedStep } from '../render-step.js';
import type { Unit } from '../unit.js';
import type { Wake } from '../wake.js';

/** What became of a unit after its call (or before it, when it could not be rendered). */
export type Verdict =
  | { kind: 'done' }
  | { kind: 'failed' }
  | { kind: 'filtered' }
  /**
   * Back to its lane after a backoff, holding no worker meanwhile (an attempt used, unless it waits on
   * shared capacity: `waitingOn` names it, and a run whose only work waits on it is not moving).
   */
  | { kind: 'retry'; delayMs: number; waitingOn?: string }
  /** No attempt used (429, rejected credential): straight back to its lane for another project. */
  | { kind: 'requeue' }
  /** A long-running operation was started: it is polled without a worker or a limiter slot. */
  | { kind: 'parked'; operation: ParkedOperation }
  /** Back to pending for the next run (a batch job expired or was cancelled, or the budget left no room). */
  | { kind: 'released' }
  /** Back to pending, and the run must stop taking calls (the disk for outputs is full). */
  | { kind: 'stop'; error: GenbatchError };

export interface Settled {
  unit: Unit;
  verdict: Verdict;
}

/**
 * What one call (or one poll that ended an operation) came to: each unit's verdict (what to retry,
 * what was written) and what it spent, from which whoever holds the call's budget hold settles it.
 */
export interface Settlement {
  settled: Settled[];
  /**
   * What the call cost: its price, or its worst case when that can never be known (an outcome
   * unknown), so that it stays reserved. Undefined: an operation was started and runs on at Vertex;
   * its hold goes with it and is settled when it ends.
   */
  spentUsd: number | undefined;
}

/** One turn of an executor: the units it settled since the last turn, and when it next needs one. */
export interface Turn {
  settled: Settled[];
  /** On the steady clock; Infinity: only when something it waits on ends (it notifies `wake`). */
  nextAt: number;
  /** An error no reaction covers (a state conflict, a bug): the run stops and throws it. */
  failed?: unknown;
}

export interface TurnOptions {
  /** Nothing more is coming soon (the input is read, no online call is left that could lead to more): send what was gathered. */
  drain: boolean;
  /** The run is stopping: start nothing new, only hand back what settled. */
  stopping: boolean;
}

/**
 * The one contract of the executors the scheduler drives: online calls, Vertex batch jobs and video
 * operations. The scheduler hands out units and turns; an executor starts what is due, and returns
 * settlements from its turns, never calling back up. Work under way ends by notifying `wake`.
 */
export interface Executor {
  /** Hands back what settled since the last turn, and starts what is due (nothing new when `stopping`). */
  turn(now: number, how: TurnOptions): Turn;
  /** Work gathered, followed or under way: the run is not finished. */
  readonly busy: boolean;
  /** Work under way that a stopping run waits for (calls, polls, submissions). */
  readonly inFlight: number;
  /** Notified when work under way ends: the scheduler takes another turn. */
  readonly wake: Wake;
  /** The run ends: says what is left running at Vertex (the next run picks it up). */
  left(): void;
}

/** An executor that takes units straight from the item feed (batch steps, resumed video operations) instead of a lane. */
export interface UnitExecutor extends Executor {
  takes(unit: Unit): boolean;
  add(unit: Unit): void;
}

/** A call rendered for one or more units (several for batched embeddings), ready to be leased and sent. */
export interface PreparedCall {
  step: Step;
  /** The units the call serves, with their rendered requests, in order. */
  live: { unit: Unit; rendered: RenderedStep }[];
  request: ProviderRequest;
  /** The most the call can cost: reserved against the budget before it is sent. */
  worstCaseUsd: number;
  /** Tokens the call may use, reserved against `tpm`. */
  estimatedTokens: number;
  /** The call's intent row in the ledger, committed (unsettled, at worstCaseUsd) before it is sent. */
  ledgerId?: number;
  /** The model the call went to (the step's, or a fallback), once leased. */
  model?: string;
  /** The API of the project that took it (prices differ by API), once leased. */
  api?: 'vertex' | 'gemini';
}

/** A video operation that is running at Vertex: its name, the project that owns it, its call. */
export interface ParkedOperation {
  call: PreparedCall;
  operationName: string;
  project: string;
  startedAt: number;
  /** The budget hold taken before the operation was started: settled from the settlement of its last poll. */
  hold?: BudgetHold;
}

/** An operation an earlier run started, to be polled: its worst case is held again (`counted`: already in the spend read at the start). */
export interface ResumedOperation {
  operation: ParkedOperation;
  holdUsd: number;
  counted: boolean;
}

/** The outcome of one poll: still running, finished (its settlement), or the poll itself failed. */
export type PollOutcome = { kind: 'running' } | ({ kind: 'settled' } & Settlement) | { kind: 'poll_failed'; error: Error };

/**
 * How an online call runs. The scheduler decides when (a lane has a project ready, a slot is free);
 * this decides how: render, answer from the cache, call, settle. The call pipeline drives it.
 */
export interface StepExecutor {
  /** How many units one call serves (embeddings send several texts per request). */
  batchSize(step: Step): number;
  /**
   * Renders the call for these units; units that cannot be rendered are settled as failed at once.
   * `deferred`: units that do not fit in this request (an embedding request's token limit), for the next.
   */
  prepare(units: Unit[]): { call: PreparedCall | undefined; rejected: Settled[]; deferred?: Unit[] };
  /**
   * Units whose request the response cache holds: settled from it (no project, no call, $0); `rest`
   * is the call for the others, if any.
   */
  fromCache?(call: PreparedCall): Promise<{ settled: Promise<Settled[]>; rest: PreparedCall | undefined }>;
  /** Sends the call on the leased project; its settlement says what became of each unit and what it spent. */
  execute(call: PreparedCall, lease: Lease): Promise<Settlement>;
  /** An operation an earlier run started, to be parked (settled at once if it cannot be rendered). */
  resumeOperation(unit: Unit): ResumedOperation | Settled[];
  /** One poll of a parked operation, on the client of the project that started it. */
  poll(operation: ParkedOperation, client: GoogleGenAI): Promise<PollOutcome>;
  /** An operation whose polls keep failing (or whose project is gone): settled as a retry or failure. */
  pollsExhausted(operation: ParkedOperation, error: Error): Promise<Settlement>;
  /** When to poll a parked operation next, given how many polls it has had. */
  pollDelayMs(polls: number): number;
}
