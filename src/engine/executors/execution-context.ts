import type { ResponseCache } from '../../cache/response-cache.js';
import type { ProjectPool } from '../../coordination/project-pool.js';
import type { PriceCatalog } from '../../estimate/price-catalog.js';
import type { Job } from '../../job/job.js';
import type { AtomicWriter } from '../../outputs/atomic-write.js';
import type { HeldReplies } from '../../outputs/held-replies.js';
import type { Provider, TaskKind } from '../../providers/provider.js';
import type { Checkpoints } from '../../store/interfaces/checkpoints.js';
import type { Ledger } from '../../store/interfaces/ledger.js';
import type { ContextCacheKeeper } from '../context-cache-keeper.js';
import type { EngineEvents } from '../events.js';
import type { CloudObjects } from './cloud-objects.js';
import type { CheckVerdict } from '../../quality/check-verdict.js';
import type { JudgeCheck, JudgeSubject } from '../../quality/run-checks.js';
import type { Unit } from '../unit.js';

/** One judge's verdict on a unit's output (see judge-calls.ts). */
export type JudgeCall = (unit: Unit, check: JudgeCheck, subject: JudgeSubject) => Promise<CheckVerdict>;

/** What an executor works with: the run, the job, the store it writes through, prices, projects, outputs, events. */
export interface ExecutionContext {
  runId: string;
  job: Job;
  /** The checkpoints and ledger rows of a call: all an executor writes. */
  store: Checkpoints & Ledger;
  catalog: PriceCatalog;
  pool: ProjectPool;
  writer: AtomicWriter;
  /** Paid replies kept when the disk for outputs was full; written instead of calling again. */
  held: HeldReplies;
  emit: <K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]) => void;
  random?: () => number;
  /** The response cache: identical requests answered once. Absent when caching is off for the run. */
  cache?: ResponseCache;
  /** Reads what a model wrote to Cloud Storage (Veo with storage_uri). Absent: such outputs fail their step. */
  objects?: CloudObjects;
  /** Judges of `judge:` checks: a model call through the run's limiters, cache, budget and ledger (absent: no judge checks run). */
  judge?: JudgeCall;
  /** The budget cannot hold a call that must be made now (a judge's): the run stops for the budget. */
  onBudgetRefused?: (worstCaseUsd: number) => void;
  /** The run's explicit context caches (issue 29): text requests name a step's cache instead of carrying its static prefix. */
  contextCaches?: ContextCacheKeeper;
  /** Which provider serves a step's model: the registry's when absent (unit tests give a fake). */
  providers?: (task: TaskKind, model: string) => Provider;
}
