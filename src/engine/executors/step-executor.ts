import type { GenbatchError } from '../../errors/genbatch-error.js';
import type { GoogleGenAI } from '@google/genai';
import type { Lease } from '../../coordination/project-pool.js';
import type { Step } from '../../job/job.js';
import type { ProviderRequest } from '../../providers/provider.js';
import type { RenderedStep } from '../render-step.js';
import type { Unit } from '../unit.js';

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
  /** Settles the budget reservation taken before the operation was started. */
  settleBudget: (usd: number) => void;
}

/** The outcome of one poll: still running, finished (settled units), or the poll itself failed. */
export type PollOutcome = { kind: 'running' } | { kind: 'settled'; settled: Settled[] } | { kind: 'poll_failed'; error: Error };

/**
 * How a step runs. The scheduler decides when (a lane has a project ready, a slot is free); an
 * executor decides how: online calls one at a time today, Vertex batch prediction later.
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
  /** Sends the call on the leased project and settles every unit it served. */
  execute(call: PreparedCall, lease: Lease, settleBudget: (usd: number) => void): Promise<Settled[]>;
  /** Parks a unit whose operation an earlier run started (settled at once if it cannot be rendered). */
  resumeOperation(unit: Unit, reserve: (worstCaseUsd: number, alreadyCounted: boolean) => (usd: number) => void): ParkedOperation | Settled[];
  /** One poll of a parked operation, on the client of the project that started it. */
  poll(operation: ParkedOperation, client: GoogleGenAI): Promise<PollOutcome>;
  /** An operation whose polls keep failing (or whose project is gone): settled as a retry or failure. */
  pollsExhausted(operation: ParkedOperation, error: Error): Promise<Settled[]>;
  /** When to poll a parked operation next, given how many polls it has had. */
  pollDelayMs(polls: number): number;
}
