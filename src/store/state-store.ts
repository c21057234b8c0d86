import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { RunLockLostError } from '../errors/run-errors.js';
import { GenbatchError } from '../errors/genbatch-error.js';
import { isDatabaseBusy, StateFileLockedError } from '../errors/state-file-locked-error.js';
import { displayPath } from '../job/load-job.js';
import { BatchJobQueries } from './batch-job-queries.js';
import { ContextCacheQueries } from './context-cache-queries.js';
import { LedgerQueries } from './ledger-queries.js';
import { migrate } from './migrate.js';
import { Statements } from './statements.js';
import { GroupCommit } from './group-commit.js';
import { describeProcess, lockHolders } from './lock-holders.js';
import { WAL_SIZE_LIMIT, WalWatch } from './wal-watch.js';
import { checkStateWritable, precheckStateFile, stateFileErrorOf, verifyStateFile } from './state-file-check.js';
import { recordSound } from './state-stamp.js';
import { StepQueries } from './step-queries.js';
import {
  ADD_STEP_ROWS,
  ALL_ITEM_IDS,
  ALL_ITEM_STEPS,
  COUNT_ITEMS,
  COUNT_PENDING_ITEMS,
  COUNT_UNFINISHED_ITEMS,
  GET_ITEM,
  ITEMS_PAGE,
  ITEMS_PAGE_WITH_ROWS,
  ITEM_STEPS,
  PENDING_ITEMS,
  RENAME_STEP_CALLS,
  RENAME_STEP_ROWS,
  REOPEN_ITEMS,
  RETIRE_UNSEEN_ITEMS,
  SET_RECHECK,
  STALE_CANDIDATES_ALL,
  STALE_CANDIDATES_FLAGGED,
  STEPS_OF_ITEMS,
  UNFINISHED_ITEMS,
  UNFINISHED_ITEMS_SPREAD,
  ITEMS_IN_ORDER,
  itemBasesSql,
  upsertItemsSql,
} from './sql/items.js';
import {
  INSERT_CALL,
  MARK_CALL_UNKNOWN,
  OPEN_CALL,
  REQUESTS_SINCE,
  SETTLED_USD_SINCE,
  SETTLE_CALL,
  UNSETTLED_CALL_OF,
  UNSETTLED_USD_SINCE,
} from './sql/ledger.js';
import { CHECK_ATTEMPTS_OF, INSERT_CHECK_ATTEMPT, regenerateStepSql, SET_CHECKS } from './sql/checks.js';
import { DELETE_META, GET_META, SET_META } from './sql/meta.js';
import { CLEAR_PROJECT_STATES, INSERT_PROJECT_STATE, PROJECT_STATES } from './sql/project-health.js';
import {
  CLEAR_ALL_REJECTIONS,
  CLEAR_REJECTION,
  DECIDE_REPLACED,
  doneStepsToRedoSql,
  EMULATOR_PROMPT_COUNTS,
  KEEP_REPLACED,
  regenerateRejectedSql,
  REJECTED_ITEM_IDS,
  REJECTED_STEPS,
  rejectStepsSql,
  REPLACED_OF_ITEM,
  RESTORE_REPLACED,
  SAVE_EMULATOR_PROMPT_COUNT,
  UNDECIDED_REPLACED,
} from './sql/review.js';
import { DELETE_LOCK, END_RUN, GET_LOCK, GET_RUN, HEARTBEAT, LAST_RUN, MARK_RUN_CRASHED, START_RUN } from './sql/run-lock.js';
import {
  DONE_OUTPUTS_BETWEEN,
  MARK_RUNNING,
  RECOVER_ABANDONED,
  PENDING_OR_RUNNING_IN_RUN,
  RUNNING_IN_RUN,
  UNFINISHED,
  completeStepSql,
  finishStepSql,
  markPendingSql,
  resetStepsSql,
  setOperationNameSql,
} from './sql/steps.js';

import type { StepState } from './step-state.js';
import type { ItemCursor } from './item-cursor.js';
import type { CheckAttempt, CheckOutcome, ItemRow, ItemStepRow, ItemUpsert, LedgerEntry, ReplacedOutput, RunRow, StepDone, StepFailure } from './rows.js';
import type { CheckVerdict } from '../quality/check-verdict.js';
import type { RegeneratedOutput } from './interfaces/checkpoints.js';
import type { BatchCheckpoints, Checkpoints } from './interfaces/checkpoints.js';
import type { CostReadModel } from './interfaces/cost-read-model.js';
import type { ItemSync } from './interfaces/item-sync.js';
import type { JobMeta } from './interfaces/job-meta.js';
import type { Ledger } from './interfaces/ledger.js';
import type { ProjectHealth, SavedProjectState } from './interfaces/project-health.js';
import type { ResultsReadModel } from './interfaces/results-read-model.js';
import type { ReviewMarks, ReviewReadModel } from './interfaces/review-read-model.js';
import type { LockAcquired, LockHolder, RunLocks } from './interfaces/run-locks.js';
import type { StatusReadModel } from './interfaces/status-read-model.js';
import type { WorkItems } from './interfaces/work-items.js';
export { STEP_STATES, type StepState } from './step-state.js';
export { FIRST_ITEM, type ItemCursor } from './item-cursor.js';

export type { ItemRow, ItemUpsert, ItemStepRow, LedgerEntry, RunRow, StepDone } from './rows.js';
export { CACHE_LEDGER_PROJECT } from './rows.js';

/** The billing columns of a ledger entry (schema 8), as SQLite takes them. */
function billingDetail(entry: LedgerEntry): { cachedTokens: number; trafficType: string | null; countedByGenbatch: number } {
  return { cachedTokens: entry.cachedTokens ?? 0, trafficType: entry.trafficType ?? null, countedByGenbatch: entry.countedByGenbatch === true ? 1 : 0 };
}

interface RawItemStep {
  item_id: string;
  step: string;
  state: StepState;
  attempts: number;
  run_id: string | null;
  project: string | null;
  prompt_hash: string | null;
  result_json: string | null;
  outputs_json: string | null;
  operation_name: string | null;
  error_code: string | null;
  error_message: string | null;
  cost_usd: number;
  model?: string | null;
  cached?: number;
  cache_key?: string | null;
  no_cache?: number;
  finish_reason?: string | null;
  truncated?: number;
  draw?: number;
  checks_json?: string | null;
  check_attempts?: number;
  check_draws?: number;
  check_outcome?: CheckOutcome | null;
}

function toItemStep(raw: RawItemStep): ItemStepRow {
  return {
    itemId: raw.item_id,
    step: raw.step,
    state: raw.state,
    attempts: raw.attempts,
    runId: raw.run_id,
    project: raw.project,
    promptHash: raw.prompt_hash,
    result: raw.result_json === null ? undefined : JSON.parse(raw.result_json),
    outputs: raw.outputs_json === null ? [] : (JSON.parse(raw.outputs_json) as string[]),
    operationName: raw.operation_name,
    errorCode: raw.error_code,
    errorMessage: raw.error_message,
    costUsd: raw.cost_usd,
    model: raw.model ?? null,
    cached: raw.cached === 1,
    cacheKey: raw.cache_key ?? null,
    noCache: raw.no_cache === 1,
    finishReason: raw.finish_reason ?? null,
    truncated: raw.truncated === 1,
    draw: raw.draw ?? 0,
    ...(raw.checks_json ? { checks: JSON.parse(raw.checks_json) as CheckVerdict[] } : {}),
    checkAttempts: raw.check_attempts ?? 0,
    checkDraws: raw.check_draws ?? 0,
    checkOutcome: raw.check_outcome ?? null,
  };
}

interface RawReplaced {
  item_id: string;
  step: string;
  result_json: string | null;
  outputs_json: string | null;
  model: string | null;
  cost_usd: number;
  kept_dir: string | null;
  replaced_at: string;
  decision: 'new' | 'old' | null;
  decided_at: string | null;
}

function toReplaced(raw: RawReplaced): ReplacedOutput {
  return {
    itemId: raw.item_id,
    step: raw.step,
    result: raw.result_json === null ? undefined : JSON.parse(raw.result_json),
    outputs: raw.outputs_json === null ? [] : (JSON.parse(raw.outputs_json) as string[]),
    model: raw.model,
    costUsd: raw.cost_usd,
    keptDir: raw.kept_dir,
    replacedAt: raw.replaced_at,
    decision: raw.decision,
    decidedAt: raw.decided_at,
  };
}

interface RawRun {
  id: string;
  started_at: string;
  ended_at: string | null;
  outcome: string | null;
  exit_code: number | null;
  pid: number | null;
  host: string | null;
  heartbeat_at: string | null;
}

function toRun(row: RawRun): RunRow {
  return {
    id: row.id,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    outcome: row.outcome,
    exitCode: row.exit_code,
    pid: row.pid,
    host: row.host,
    heartbeatAt: row.heartbeat_at,
  };
}

const now = (): string => new Date().toISOString();

/** Items per INSERT statement when items are synced (six bound values each, far below SQLite's limit). */
const UPSERT_ROWS = 64;

/**
 * The job's SQLite state: items, per-step state, runs and the call ledger. Every state change is a
 * single statement or one transaction, committed before the engine moves on, so a crash at any
 * point leaves a file a resume can trust.
 */
export class StateStore
  implements
    Checkpoints,
    BatchCheckpoints,
    Ledger,
    RunLocks,
    WorkItems,
    JobMeta,
    ItemSync,
    ProjectHealth,
    StatusReadModel,
    CostReadModel,
    ReviewReadModel,
    ReviewMarks,
    ResultsReadModel
{
  /** The connection: SQL runs only in src/store (test/store/no-sql-outside-store.test.ts checks). */
  readonly #db: Database.Database;
  readonly #sql: Statements;
  readonly #group: GroupCommit;
  /** A run's watch on the size of the WAL (see wal-watch.ts). */
  #wal: WalWatch | undefined;
  /** Checked (or created) at open: a clean close records the file as sound. */
  #sound = false;
  /** Reads of per-item step state (status, estimates, output files). */
  readonly steps: StepQueries;
  /** Reads of the call ledger (status, cost, estimates, notifications). */
  readonly ledger: LedgerQueries;
  /** Vertex AI batch prediction jobs and their units. */
  readonly batches: BatchJobQueries;
  /** Explicit context caches the runs made, and their storage in the ledger (schema 13). */
  readonly contextCaches: ContextCacheQueries;

  private constructor(
    db: Database.Database,
    readonly file: string,
  ) {
    this.#db = db;
    const statements = new Statements(db);
    this.#sql = statements;
    this.#group = new GroupCommit(db);
    this.steps = new StepQueries(statements);
    // A read-only store of an older file is not migrated: its ledger has no intent rows (schema 4).
    const version = db.pragma('user_version', { simple: true }) as number;
    this.ledger = new LedgerQueries(statements, version >= 4, version >= 6, version >= 8, version >= 13);
    this.batches = new BatchJobQueries(statements, (db.pragma('user_version', { simple: true }) as number) >= 5);
    this.contextCaches = new ContextCacheQueries(statements, version >= 13);
  }

  /**
   * Opens (or creates) a state file. A damaged, foreign or read-only file is refused here with a
   * StateFileError (exit 2), before anything is written or sent; see state-file-check.ts.
   */
  static open(file: string, options: { readonly?: boolean } = {}): StateStore {
    const exists = precheckStateFile(file);
    if (!options.readonly) {
      try {
        mkdirSync(dirname(file), { recursive: true });
      } catch (error) {
        throw stateFileErrorOf(error, file) ?? error;
      }
      checkStateWritable(file);
    }
    let db: Database.Database;
    try {
      db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    } catch (error) {
      throw (
        stateFileErrorOf(error, file) ??
        new GenbatchError(`Cannot open state file ${file}: ${(error as Error).message}`, {
          code: 'STATE_UNREADABLE',
          exitCode: 2,
          hint: 'Check the path and permissions of the state file (job key `state:`).',
          cause: error,
        })
      );
    }
    let sound = !exists;
    try {
      db.pragma('busy_timeout = 5000');
      if (exists) sound = verifyStateFile(db, file);
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        // A WAL that grew (a reader pinned it) is cut back to this size when SQLite starts it over.
        db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
        // NORMAL is durable across process crashes in WAL mode (only an OS crash may lose the last commit).
        db.pragma('synchronous = NORMAL');
        db.pragma('foreign_keys = ON');
        migrate(db, file);
      }
    } catch (error) {
      db.close();
      throw stateFileErrorOf(error, file) ?? error;
    }
    const store = new StateStore(db, file);
    store.#sound = sound;
    return store;
  }

  /**
   * Copies the state into `destination` with SQLite's online backup API, a few pages per turn of the
   * event loop; writes made meanwhile through this store are copied too. Throwing from `progress`
   * abandons it. See state-backup.ts.
   */
  backupTo(destination: string, progress: () => number): Promise<unknown> {
    return this.#db.backup(destination, { progress });
  }

  /** False once closed. */
  get isOpen(): boolean {
    return this.#db.open;
  }

  /**
   * For a run: writes wait up to `waitMs` for a lock another process holds on the file, with a
   * notice when a wait begins, then fail with StateFileLockedError (exit 75) naming the file and,
   * where the system says, the process holding it.
   */
  waitForLocks(waitMs: number, onWaiting?: (message: string) => void): void {
    const holders = (): string[] => lockHolders(this.file).writers.map(describeProcess);
    this.#group.waitForLocks({
      waitMs,
      onWaiting: () => {
        const who = holders();
        onWaiting?.(
          `The state file ${displayPath(this.file)} is locked by another process${who.length > 0 ? ` (${who.join(', ')})` : ''}: no new call is sent until it is free (waiting up to ${Math.round(waitMs / 1000)}s, limits.max_stall).`,
        );
      },
      failure: (waitedMs) => {
        // The run stops: its last bookkeeping writes (run row, lock) try once more without waiting long.
        this.#db.pragma('busy_timeout = 200');
        return this.#wal?.holding === true
          ? new StateFileLockedError(displayPath(this.file), lockHolders(this.file).readers.map(describeProcess), waitedMs, 'wal_pinned')
          : new StateFileLockedError(displayPath(this.file), holders(), waitedMs);
      },
    });
  }

  /**
   * For a run: looks at the WAL now and every second; a large one is checkpointed, one a reader pins is
   * warned about (naming the reader) and bounded (see wal-watch.ts). Stopped when the store closes.
   */
  watchWal(notice: (message: string) => void): void {
    this.#wal ??= new WalWatch(this.#db, this.file, this.#group, notice);
    this.#wal.start();
  }

  /**
   * A bookkeeping write that may be skipped while another process holds the file (the end of a run
   * stopped by that lock): false when it was.
   */
  #unlessLocked(write: () => void): boolean {
    try {
      write();
      return true;
    } catch (error) {
      if (isDatabaseBusy(error)) return false;
      throw error;
    }
  }

  close(): void {
    this.#wal?.stop();
    if (this.#db.open) this.#group.flush(true);
    if (!this.#db.open) return;
    this.#db.close();
    // Closed cleanly by genbatch: the next open need not check the file again if nothing touches it.
    if (this.#sound) recordSound(this.file);
  }
  /**
   * Runs state writes in the next group commit and resolves once they are durable (committed with
   * the other checkpoints of the same moment, in one transaction). Writes that must hold together
   * (a ledger row and its step) go in one `write`.
   */
  commit<T>(write: () => T): Promise<T> {
    return this.#group.submit(write);
  }

  getMeta(key: string): string | undefined {
    const row = this.#sql.get(GET_META).get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.#sql.get(SET_META).run(key, value);
  }

  // ---- items ---------------------------------------------------------------------------------

  /**
   * Inserts or refreshes items in one transaction and makes sure every step has a row. An item whose
   * row changed is flagged for the next staleness check (`recheck`). Rows go in many at a time per
   * statement (statements prepared once per store); callers pass big batches. `rowJson`, when given,
   * is the row already serialised (the caller hashed it).
   *
   * `reopen` (default true): items that gain a step row (the job gained a step) are open again. A
   * sync that knows the steps are those of its last sync passes false and saves a look at each item.
   */
  upsertItems(items: ItemUpsert[], steps: readonly string[], runId: string, options: { reopen?: boolean } = {}): void {
    const upsert = (n: number): Database.Statement => this.#sql.get(upsertItemsSql(n));
    this.#db.transaction(() => {
      for (let start = 0; start < items.length; start += UPSERT_ROWS) {
        const chunk = items.slice(start, start + UPSERT_ROWS);
        // Full chunks share one statement; the last, shorter one runs row by row (no statement per length).
        for (const group of chunk.length === UPSERT_ROWS ? [chunk] : chunk.map((item) => [item])) {
          const values: unknown[] = new Array(group.length * 6);
          group.forEach((item, i) => {
            values[i * 6] = item.id;
            values[i * 6 + 1] = item.ord;
            values[i * 6 + 2] = item.line;
            values[i * 6 + 3] = item.rowJson ?? JSON.stringify(item.values ?? {});
            values[i * 6 + 4] = item.inputHash;
            values[i * 6 + 5] = runId;
          });
          upsert(group.length).run(values);
        }
      }
      if (items.length === 0 || steps.length === 0) return;
      const ids = JSON.stringify(items.map((item) => item.id));
      const added = this.#sql.get(ADD_STEP_ROWS).run(JSON.stringify(steps), ids).changes;
      // New step rows are pending: an item that had nothing left to do (and no failed step) has again.
      if (added > 0 && options.reopen !== false) {
        this.#sql.get(REOPEN_ITEMS).run(ids);
      }
    })();
  }

  /**
   * Items no longer in the input: their unfinished work is dropped (the person removed them); items
   * with a finished step are kept, so status and results still account for what was paid.
   */
  retireUnseenItems(runId: string): number {
    return this.#sql.get(RETIRE_UNSEEN_ITEMS).run(runId).changes;
  }

  itemCount(): number {
    return (this.#sql.get(COUNT_ITEMS).get() as { n: number }).n;
  }

  getItem(id: string): ItemRow | undefined {
    const row = this.#sql.get(GET_ITEM).get(id) as { id: string; ord: number; line: number | null; row_json: string; input_hash: string } | undefined;
    return row && { id: row.id, ord: row.ord, line: row.line, values: JSON.parse(row.row_json) as Record<string, string>, inputHash: row.input_hash };
  }

  /**
   * Items with work left, in input order after `afterOrd`: a pending step and no failed or filtered
   * step before it (a failed link stops its chain until it is retried).
   */
  pendingItems(afterOrd: number, limit: number): ItemRow[] {
    const rows = this.#sql.get(PENDING_ITEMS).all(afterOrd, limit) as { id: string; ord: number; line: number | null; row_json: string; input_hash: string }[];
    return rows.map((row) => ({
      id: row.id,
      ord: row.ord,
      line: row.line,
      values: JSON.parse(row.row_json) as Record<string, string>,
      inputHash: row.input_hash,
    }));
  }

  /** Items with a pending or running step and no failed or filtered one (the `open` flag the triggers keep). */
  pendingItemCount(): number {
    return (this.#sql.get(COUNT_PENDING_ITEMS).get() as { n: number }).n;
  }

  itemSteps(itemId: string): ItemStepRow[] {
    return (this.#sql.get(ITEM_STEPS).all(itemId) as RawItemStep[]).map(toItemStep);
  }

  allItemSteps(): ItemStepRow[] {
    return (this.#sql.get(ALL_ITEM_STEPS).all() as RawItemStep[]).map(toItemStep);
  }

  /** Items in input order, streamed (results files can be large). */
  *iterateItems(): Generator<ItemRow> {
    // Not cached: an iterating statement is busy until the iteration ends.
    const statement = this.#db.prepare(ITEMS_IN_ORDER);
    for (const row of statement.iterate() as Iterable<{ id: string; ord: number; line: number | null; row_json: string; input_hash: string }>) {
      yield { id: row.id, ord: row.ord, line: row.line, values: JSON.parse(row.row_json) as Record<string, string>, inputHash: row.input_hash };
    }
  }

  // ---- paging in input order: fast resume, bounded memory ------------------------------------------

  /** The file's schema version (a read-only store is not migrated, so it may be older than this genbatch). */
  schemaVersion(): number {
    return this.#db.pragma('user_version', { simple: true }) as number;
  }

  /**
   * A step renamed in the job file (`renamed_from:`): its rows and its calls in the ledger take the
   * new name, so the work done under the old one counts as done.
   */
  renameStep(from: string, to: string): number {
    return this.#db.transaction(() => {
      const moved = this.#sql.get(RENAME_STEP_ROWS).run(to, from).changes;
      this.#sql.get(RENAME_STEP_CALLS).run(to, from);
      return moved;
    })();
  }

  deleteMeta(key: string): void {
    this.#sql.get(DELETE_META).run(key);
  }

  /**
   * Items that may be stale, in input order after `after`, at most `limit`: those flagged for a
   * recheck, or with `everything` each item with a step that has a request hash.
   */
  staleCandidates(after: ItemCursor, limit: number, everything: boolean): (ItemRow & { cursor: ItemCursor })[] {
    const rows = (everything ? this.#sql.get(STALE_CANDIDATES_ALL) : this.#sql.get(STALE_CANDIDATES_FLAGGED)).all(after.ord, after.seq, limit) as {
      seq: number;
      id: string;
      ord: number;
      line: number | null;
      row_json: string;
      input_hash: string;
    }[];
    return rows.map((row) => ({
      id: row.id,
      ord: row.ord,
      line: row.line,
      values: JSON.parse(row.row_json) as Record<string, string>,
      inputHash: row.input_hash,
      cursor: { ord: row.ord, seq: row.seq },
    }));
  }

  /** Sets or clears the staleness recheck flag of items, in one transaction. */
  setRecheck(ids: readonly string[], recheck: boolean): void {
    if (ids.length === 0) return;
    const statement = this.#sql.get(SET_RECHECK);
    const flag = recheck ? 1 : 0;
    this.#db.transaction(() => {
      for (const id of ids) statement.run(flag, id, flag);
    })();
  }

  /**
   * For the given ids, those in the state: the stored row hash, the recheck flag, and whether a step
   * has a request hash (only those can be stale). One statement per call, however many ids.
   */
  itemBases(ids: readonly string[]): Map<string, { inputHash: string; recheck: boolean; hashed: boolean }> {
    const rows = this.#sql.get(itemBasesSql(this.schemaVersion() >= 3)).all(JSON.stringify(ids)) as {
      id: string;
      input_hash: string;
      recheck: number;
      hashed: number;
    }[];
    return new Map(rows.map((row) => [row.id, { inputHash: row.input_hash, recheck: row.recheck === 1, hashed: row.hashed === 1 }]));
  }

  /** Items in input order after `after`, at most `limit`, each with all its step rows (results files page with this). */
  itemsWithSteps(
    after: ItemCursor,
    limit: number,
    options: { values?: boolean } = {},
  ): { id: string; cursor: ItemCursor; steps: ItemStepRow[]; values?: Record<string, string> }[] {
    const items = this.#sql.get(options.values ? ITEMS_PAGE_WITH_ROWS : ITEMS_PAGE).all(after.ord, after.seq, limit) as {
      seq: number;
      id: string;
      ord: number;
      row_json?: string;
    }[];
    if (items.length === 0) return [];
    const steps = new Map<string, ItemStepRow[]>();
    const raw = this.#sql.get(STEPS_OF_ITEMS).all(JSON.stringify(items.map((item) => item.id))) as RawItemStep[];
    for (const row of raw) {
      const list = steps.get(row.item_id);
      if (list) list.push(toItemStep(row));
      else steps.set(row.item_id, [toItemStep(row)]);
    }
    return items.map((item) => ({
      id: item.id,
      cursor: { ord: item.ord, seq: item.seq },
      steps: steps.get(item.id) ?? [],
      ...(item.row_json === undefined ? {} : { values: JSON.parse(item.row_json) as Record<string, string> }),
    }));
  }

  /**
   * About `n` items with a step still to do (pending or running), spread over the input, in input
   * order; every one of them when there are at most `n`. Estimates count tokens on these.
   */
  sampleUnfinishedItems(n: number): { id: string; values: Record<string, string> }[] {
    const total = (this.#sql.get(COUNT_UNFINISHED_ITEMS).get() as { n: number }).n;
    if (total === 0) return [];
    const rows = (
      total <= n
        ? this.#sql.get(UNFINISHED_ITEMS).all()
        : // Every k-th position of the input among the unfinished items: deterministic, spread over the whole input.
          this.#sql.get(UNFINISHED_ITEMS_SPREAD).all(Math.max(1, Math.floor(total / n)), n)
    ) as { id: string; row_json: string }[];
    return rows.map((row) => ({ id: row.id, values: JSON.parse(row.row_json) as Record<string, string> }));
  }

  // ---- step transitions ------------------------------------------------------------------------

  /**
   * `running` rows whose run is not this one: left by a dead run, back to pending. Units in a batch
   * job (batch_id) stay running: the job is still at Vertex, and the run that adopts it settles them.
   */
  recoverAbandoned(currentRunId: string): number {
    return this.#sql.get(RECOVER_ABANDONED).run(now(), currentRunId).changes;
  }

  /**
   * Throws when a guarded transition changed no row: the step was not in the state this run left it
   * in (another run took it over, or it was reset meanwhile). Nothing is overwritten then.
   */
  /**
   * Runs writes that must hold together: inside a group commit's transaction as they are (no
   * savepoint per checkpoint), outside one in a transaction of their own.
   */
  #atomically<T>(writes: () => T): T {
    return this.#db.inTransaction ? writes() : this.#db.transaction(writes)();
  }

  #expectChanged(changes: number, itemId: string, step: string, expected: string): void {
    if (changes === 1) return;
    throw new GenbatchError(
      `State conflict: step "${step}" of item "${itemId}" was not ${expected}; it was changed by someone else, so this run leaves it alone.`,
      {
        code: 'STATE_CONFLICT',
        exitCode: 1,
        hint: 'Another run of this job may be active, or the state file was edited; check `genbatch status`, then resume.',
      },
    );
  }

  /** Guard of a transition that ends a call: `running` in this run, or (without a run id) not yet finished. */
  #guard(runId: string | undefined): { sql: string; params: string[]; expected: string } {
    return runId === undefined
      ? { sql: UNFINISHED, params: [], expected: 'pending or running' }
      : { sql: RUNNING_IN_RUN, params: [runId], expected: `running in run ${runId}` };
  }

  /** pending → running, in this run and on this project. */
  markRunning(itemId: string, step: string, runId: string, project: string): void {
    const changes = this.#sql.get(MARK_RUNNING).run(runId, project, now(), itemId, step).changes;
    this.#expectChanged(changes, itemId, step, 'pending');
  }

  /** running → pending after a requeued or retried call; `countAttempt` when it used an attempt. */
  markPending(
    itemId: string,
    step: string,
    options: { countAttempt: boolean; errorCode?: string; errorMessage?: string; costUsd?: number; runId?: string; finishReason?: string },
  ): void {
    const guard = this.#guard(options.runId);
    // A failure without a reply (429, network) keeps the finish reason of the last reply that came.
    const changes = this.#sql
      .get(markPendingSql(guard.sql))
      .run(
        options.countAttempt ? 1 : 0,
        options.errorCode ?? null,
        options.errorMessage ?? null,
        options.costUsd ?? 0,
        options.finishReason ?? null,
        now(),
        itemId,
        step,
        ...guard.params,
      ).changes;
    this.#expectChanged(changes, itemId, step, guard.expected);
  }

  /** Checkpoints a long-running operation's name (or clears it) on a step this run is running. */
  setOperationName(itemId: string, step: string, operationName: string | null, runId?: string): void {
    const guard = this.#guard(runId);
    const changes = this.#sql.get(setOperationNameSql(guard.sql)).run(operationName, now(), itemId, step, ...guard.params).changes;
    this.#expectChanged(changes, itemId, step, guard.expected);
  }

  /**
   * The step's outcome and its call's ledger row, committed together. When the guard fails, the
   * ledger row is still committed (the call was paid for) and a conflict is thrown.
   */
  completeStep(itemId: string, step: string, done: StepDone, call?: LedgerEntry, runId?: string): void {
    const guard = this.#guard(runId);
    const changes = this.#atomically(() => {
      // The paid call is recorded even when the step moved on (a conflict): money spent stays spent.
      if (call) this.recordCall(call);
      return this.#sql
        .get(completeStepSql(guard.sql))
        .run(
          JSON.stringify(done.result ?? null),
          JSON.stringify(done.outputs),
          done.promptHash,
          done.costUsd,
          now(),
          done.model ?? null,
          done.cached === true ? 1 : 0,
          done.cacheKey ?? null,
          done.finishReason ?? null,
          done.truncated === true ? 1 : 0,
          itemId,
          step,
          ...guard.params,
        ).changes;
    });
    this.#expectChanged(changes, itemId, step, guard.expected);
  }

  /** failed or filtered: from `running` in this run, or from `pending` (a step that could not even be rendered). */
  finishStep(itemId: string, step: string, state: 'failed' | 'filtered', error: StepFailure, call?: LedgerEntry, runId?: string): void {
    const guard =
      runId === undefined ? this.#guard(undefined) : { sql: PENDING_OR_RUNNING_IN_RUN, params: [runId], expected: `pending or running in run ${runId}` };
    const changes = this.#atomically(() => {
      if (call) this.recordCall(call);
      return this.#sql
        .get(finishStepSql(guard.sql))
        .run(
          state,
          error.code,
          error.message,
          error.promptHash ?? null,
          error.costUsd ?? 0,
          now(),
          error.model ?? null,
          error.finishReason ?? null,
          itemId,
          step,
          ...guard.params,
        ).changes;
    });
    this.#expectChanged(changes, itemId, step, guard.expected);
  }

  regenerateStep(itemId: string, step: string, replaced: RegeneratedOutput, call: LedgerEntry | undefined, runId: string): void {
    const guard = this.#guard(runId);
    const checks = JSON.stringify(replaced.checks);
    const reasons = replaced.checks
      .filter((v) => !v.passed)
      .map((v) => `${v.check}: ${v.reason ?? 'failed'}`)
      .join('; ');
    const changes = this.#atomically(() => {
      if (call) this.recordCall(call);
      const at = now();
      this.#sql
        .get(INSERT_CHECK_ATTEMPT)
        .run(JSON.stringify(replaced.result ?? null), JSON.stringify(replaced.outputs), checks, replaced.costUsd, at, itemId, step);
      return this.#sql
        .get(regenerateStepSql(guard.sql))
        .run(checks, replaced.costUsd, reasons, replaced.finishReason ?? null, at, itemId, step, ...guard.params).changes;
    });
    this.#expectChanged(changes, itemId, step, guard.expected);
  }

  setChecks(itemId: string, step: string, checks: readonly CheckVerdict[], outcome: CheckOutcome): void {
    this.#sql.get(SET_CHECKS).run(JSON.stringify(checks), outcome, itemId, step);
  }

  /** The outputs regenerations replaced for this item and step, oldest first (the review page's before/after). */
  checkAttempts(itemId: string, step: string): CheckAttempt[] {
    if (this.schemaVersion() < 12) return [];
    const rows = this.#sql.get(CHECK_ATTEMPTS_OF).all(itemId, step) as {
      item_id: string;
      step: string;
      attempt: number;
      result_json: string | null;
      outputs_json: string | null;
      checks_json: string;
      cost_usd: number;
      at: string;
    }[];
    return rows.map((r) => ({
      itemId: r.item_id,
      step: r.step,
      attempt: r.attempt,
      result: r.result_json === null ? undefined : JSON.parse(r.result_json),
      outputs: r.outputs_json === null ? [] : (JSON.parse(r.outputs_json) as string[]),
      checks: JSON.parse(r.checks_json) as CheckVerdict[],
      costUsd: r.cost_usd,
      at: r.at,
    }));
  }

  /** Puts chosen steps (and every later step of those items) back to pending. */
  resetSteps(
    itemIds: readonly string[] | 'all',
    fromSteps: readonly string[],
    states: readonly StepState[],
    /** The user asked for new answers (retry): the next ones come from calls, not the response cache. */
    options: { noCache?: boolean } = {},
  ): number {
    const statement = this.#sql.get(resetStepsSql(fromSteps.length, states.length, options.noCache === true));
    const ids = itemIds === 'all' ? (this.#sql.get(ALL_ITEM_IDS).pluck().all() as string[]) : itemIds;
    let changed = 0;
    this.#db.transaction(() => {
      for (const id of ids) changed += statement.run(now(), id, ...fromSteps, ...states).changes;
    })();
    return changed;
  }

  /**
   * Done steps with output files whose call (or cache answer) was recorded between two times (ISO):
   * after a machine crash, the outputs the operating system may not have written yet.
   */
  doneOutputsBetween(sinceIso: string, untilIso: string): { itemId: string; step: string; outputs: string[] }[] {
    // Found through the ledger rows of that window (its index on `at`), not a pass over every step row.
    const rows = this.#sql.get(DONE_OUTPUTS_BETWEEN).all(sinceIso, untilIso) as { item_id: string; step: string; outputs_json: string }[];
    return rows.map((r) => ({ itemId: r.item_id, step: r.step, outputs: JSON.parse(r.outputs_json) as string[] }));
  }

  // ---- ledger -------------------------------------------------------------------------------------

  /**
   * Intent before spend: the ledger row of a call about to be sent, unsettled, with the most it can
   * cost. Returns the row's id, which the call's settling entry carries.
   */
  openCall(call: { runId: string; itemId: string; step: string; project: string; model: string; reservedUsd: number }): number {
    return Number(this.#sql.get(OPEN_CALL).run(call.runId, call.itemId, call.step, call.project, call.model, now(), call.reservedUsd).lastInsertRowid);
  }

  /**
   * A call whose outcome will never be known (timed out, connection lost after sending): its row
   * stays unsettled, counted at its worst case, and records what happened.
   */
  markCallUnknown(id: number, errorCode: string, durationMs: number): void {
    this.#sql.get(MARK_CALL_UNKNOWN).run(errorCode, durationMs, id);
  }

  /** The unsettled intent row of an item's step (a video operation started by an earlier run), if any. */
  unsettledCallOf(itemId: string, step: string): { id: number; reservedUsd: number; model: string } | undefined {
    const row = this.#sql.get(UNSETTLED_CALL_OF).get(itemId, step) as { id: number; usd: number; model: string } | undefined;
    return row && { id: row.id, reservedUsd: row.usd, model: row.model };
  }

  /** A call's ledger row: its intent row (entry.id) settled to what the call really used, or a new row. */
  recordCall(entry: LedgerEntry): void {
    if (entry.id !== undefined) {
      this.#sql.get(SETTLE_CALL).run({ errorCode: null, ...entry, ...billingDetail(entry), id: entry.id });
      return;
    }
    this.#sql
      .get(INSERT_CALL)
      .run({ itemId: null, step: null, errorCode: null, ...entry, ...billingDetail(entry), cached: entry.cached === true ? 1 : 0, at: now() });
  }

  /** Requests to a project and model since a time (ISO), from the ledger: `rpd` across runs. */
  requestsSince(project: string, model: string, sinceIso: string): number {
    return (this.#sql.get(REQUESTS_SINCE).get(project, model, sinceIso) as { n: number }).n;
  }

  // ---- project health ------------------------------------------------------------------------------

  /** Replaces the saved project health (cooldowns and daily exhaustion still in force). */
  /** Rows are keyed `project/model` (project names cannot contain a slash). */
  saveProjectStates(states: readonly { project: string; model: string; state: string; until: number; reason: string }[]): void {
    this.#db.transaction(() => {
      this.#sql.get(CLEAR_PROJECT_STATES).run();
      const insert = this.#sql.get(INSERT_PROJECT_STATE);
      for (const s of states) insert.run(`${s.project}/${s.model}`, s.state, new Date(s.until).toISOString(), s.reason, now());
    })();
  }

  loadProjectStates(): SavedProjectState[] {
    const rows = this.#sql.get(PROJECT_STATES).all() as {
      project: string;
      state: string;
      until_at: string | null;
      reason: string | null;
    }[];
    return rows
      .filter((r) => (r.state === 'cooling' || r.state === 'exhausted') && r.until_at && r.project.includes('/'))
      .map((r) => {
        const slash = r.project.indexOf('/');
        return {
          project: r.project.slice(0, slash),
          model: r.project.slice(slash + 1),
          state: r.state as 'cooling' | 'exhausted',
          until: Date.parse(r.until_at ?? ''),
          reason: r.reason ?? '',
        };
      });
  }

  // ---- the run lock ------------------------------------------------------------------------------------

  /**
   * Takes the job's run lock (one active run per job), atomically. A lock whose holder is gone (this
   * host, no such process) is taken over; one held by a process running on this host never is,
   * however old its heartbeat looks (it may be stopped with SIGSTOP, or this process's clock may run
   * ahead); one of another host is taken over once its heartbeat is `staleMs` old. A held lock is
   * returned so the caller can name it.
   */
  acquireLock(holder: LockHolder, holderState: (pid: number, host: string) => 'running' | 'gone' | 'elsewhere', staleMs = 60_000): LockAcquired {
    type Held = { runId: string; pid: number; host: string; heartbeatAt: string };
    const readHolder = (): Held | undefined => {
      const row = this.#sql.get(GET_LOCK).get() as { value: string } | undefined;
      return row ? (JSON.parse(row.value) as Held) : undefined;
    };
    const kept = (current: Held): boolean => {
      const state = holderState(current.pid, current.host);
      return state === 'running' || (state === 'elsewhere' && Date.now() - Date.parse(current.heartbeatAt) < staleMs);
    };
    // Read first, outside any write lock (WAL readers never wait): a live holder may be stopped in
    // the middle of a commit (SIGSTOP), and the answer "another run is active" must not wait on it.
    const seen = readHolder();
    if (seen && kept(seen)) return { acquired: false, holder: seen };
    const startedAt = Date.now();
    try {
      return this.#db
        .transaction(() => {
          const current = readHolder();
          let tookOver: { runId: string; pid: number; host: string } | undefined;
          if (current) {
            if (kept(current)) return { acquired: false as const, holder: current };
            tookOver = { runId: current.runId, pid: current.pid, host: current.host };
            this.#sql.get(MARK_RUN_CRASHED).run(now(), current.runId);
          }
          this.setMeta('lock', JSON.stringify({ ...holder, heartbeatAt: now() }));
          return tookOver ? { acquired: true as const, tookOver } : { acquired: true as const };
        })
        .immediate();
    } catch (error) {
      // No run holds the job, but another program holds the file's write lock past the busy timeout.
      if (isDatabaseBusy(error))
        throw new StateFileLockedError(displayPath(this.file), lockHolders(this.file).writers.map(describeProcess), Date.now() - startedAt);
      throw error;
    }
  }

  /**
   * From now on every state write commits only while `runId` holds the job's lock (a fencing check in
   * the write's own transaction): a run that lost it — another host took it over while this one was
   * paused or cut off — can write nothing more.
   */
  fenceFor(runId: string): void {
    this.#group.fence = () => this.assertLock(runId);
  }

  /** Throws RunLockLostError when the store is fenced (fenceFor) and its run no longer holds the lock: checked before output files are put in place. */
  checkFence(): void {
    this.#group.fence?.();
  }

  private assertLock(runId: string): void {
    const row = this.getMeta('lock');
    const holder = row ? (JSON.parse(row) as { runId: string; pid: number; host: string }) : undefined;
    if (holder?.runId !== runId) throw new RunLockLostError(this.file, holder);
  }

  /** Keeps the lock fresh while the run lives. */
  touchLock(runId: string): void {
    const row = this.getMeta('lock');
    if (!row) return;
    const lock = JSON.parse(row) as { runId: string };
    if (lock.runId === runId) this.setMeta('lock', JSON.stringify({ ...lock, heartbeatAt: now() }));
  }

  /** False when another process held the file (the next run takes the lock over: this process is gone by then). */
  releaseLock(runId: string): boolean {
    // What is queued commits under the fence first; after the release nothing is fenced.
    this.#group.flush();
    this.#group.fence = undefined;
    const row = this.getMeta('lock');
    if (!row || (JSON.parse(row) as { runId: string }).runId !== runId) return true;
    return this.#unlessLocked(() => this.#sql.get(DELETE_LOCK).run());
  }

  /** Spend recorded in the ledger: in all, and since a time (ISO). */
  /**
   * What the budget counts as spent: settled spend, plus the worst case of every call whose outcome
   * is unknown (unsettled), over every run or since a time.
   */
  spentUsd(sinceIso?: string): number {
    const since = sinceIso ?? '';
    const unsettled = this.#sql.get(UNSETTLED_USD_SINCE).get(since) as { usd: number };
    return this.settledUsd(since) + unsettled.usd;
  }

  /** Spend whose real usage is known, over every run or since a time (from a covering index). */
  settledUsd(sinceIso?: string): number {
    return (this.#sql.get(SETTLED_USD_SINCE).get(sinceIso ?? '') as { usd: number }).usd;
  }

  // ---- runs ------------------------------------------------------------------------------------------

  startRun(run: { id: string; pid: number; host: string; options: unknown }): void {
    this.#sql.get(START_RUN).run(run.id, now(), run.pid, run.host, now(), JSON.stringify(run.options));
  }

  /**
   * The run's heartbeat, with the other writes of the moment (a file another process locks delays it
   * like them). While the writes are held back for a pinned WAL it is written alone (a page, not the
   * run's bulk), so that the run's lock never looks abandoned meanwhile.
   */
  beat(runId: string): Promise<void> {
    if (this.#wal?.holding === true) {
      this.#unlessLocked(() => this.heartbeat(runId));
      return Promise.resolve();
    }
    return this.commit(() => this.heartbeat(runId));
  }

  heartbeat(runId: string): void {
    this.#sql.get(HEARTBEAT).run(now(), runId);
    this.touchLock(runId);
  }

  /** False when another process held the file: the run row stays open, as a crashed run's does. */
  endRun(runId: string, outcome: string, exitCode: number): boolean {
    return this.#unlessLocked(() => this.#sql.get(END_RUN).run(now(), outcome, exitCode, runId));
  }

  /** The run started last, by run order (rowid), not by start time: a run made on a clock that was ahead must not hide later runs. */
  lastRun(): RunRow | undefined {
    const row = this.#sql.get(LAST_RUN).get() as RawRun | undefined;
    return row && toRun(row);
  }

  getRun(id: string): RunRow | undefined {
    const row = this.#sql.get(GET_RUN).get(id) as RawRun | undefined;
    return row && toRun(row);
  }

  // ---- review (observe helper) ----

  /**
   * Marks the done steps of items (among `steps`) as rejected by a reviewer. Their state does not
   * change (the outputs stay until `retry --rejected`); returns the rows marked.
   */
  rejectSteps(itemIds: readonly string[], steps: readonly string[], note: string | null): number {
    if (steps.length === 0) return 0;
    const statement = this.#sql.get(rejectStepsSql(steps.length));
    const at = now();
    let changed = 0;
    this.#db.transaction(() => {
      for (const id of itemIds) changed += statement.run(at, note, id, ...steps).changes;
    })();
    return changed;
  }

  /** Rejected steps, in input order. */
  rejectedSteps(): { itemId: string; step: string; note: string | null; at: string }[] {
    return this.#sql.get(REJECTED_STEPS).all() as { itemId: string; step: string; note: string | null; at: string }[];
  }

  /** Ids of items with a rejected step, in input order. */
  rejectedItemIds(): string[] {
    return this.#sql.get(REJECTED_ITEM_IDS).pluck().all() as string[];
  }

  /**
   * `retry --rejected`: for every item with a rejected step, puts that step and every later one
   * (in `stepOrder`) back to pending and clears the marks, in one statement. Returns the steps reset.
   */
  retryRejected(stepOrder: readonly string[], kept: readonly { itemId: string; step: string; keptDir: string }[] = []): number {
    if (stepOrder.length === 0) return 0;
    const statement = this.#sql.get(regenerateRejectedSql(stepOrder.length));
    const keep = this.#sql.get(KEEP_REPLACED);
    const at = now();
    return this.#db.transaction(() => {
      for (const k of kept) keep.run(k.keptDir, at, k.itemId, k.step);
      return statement.run(...stepOrder.flatMap((step, n) => [step, n]), at).changes;
    })();
  }

  /** The done steps `retry --rejected` would redo (each rejected step and every later one). */
  doneStepsToRedo(stepOrder: readonly string[]): ItemStepRow[] {
    if (stepOrder.length === 0) return [];
    return (this.#sql.get(doneStepsToRedoSql(stepOrder.length)).all(...stepOrder.flatMap((step, n) => [step, n])) as RawItemStep[]).map(toItemStep);
  }

  /** Replaced outputs the reviewer has not chosen between yet, in input order (none before version 11). */
  undecidedReplaced(): ReplacedOutput[] {
    if (this.schemaVersion() < 11) return [];
    return (this.#sql.get(UNDECIDED_REPLACED).all() as RawReplaced[]).map(toReplaced);
  }

  /** Every replaced output of an item, decided or not (the record of the reviewer's choices). */
  replacedOfItem(itemId: string): ReplacedOutput[] {
    if (this.schemaVersion() < 11) return [];
    return (this.#sql.get(REPLACED_OF_ITEM).all(itemId) as RawReplaced[]).map(toReplaced);
  }

  /**
   * The reviewer's choice for an item's undecided replaced outputs, in one transaction: `new` keeps
   * the regenerated ones, `old` puts the replaced result and outputs back in the steps. Returns the rows decided.
   */
  decideReplaced(itemId: string, decision: 'new' | 'old'): ReplacedOutput[] {
    const undecided = this.replacedOfItem(itemId).filter((r) => r.decision === null);
    const decide = this.#sql.get(DECIDE_REPLACED);
    const restore = this.#sql.get(RESTORE_REPLACED);
    const at = now();
    this.#db.transaction(() => {
      for (const r of undecided) {
        if (decision === 'old') restore.run(at, r.itemId, r.step);
        decide.run(decision, at, r.itemId, r.step);
      }
    })();
    return undecided;
  }

  /** The in-process emulator's asks per prompt, as saved by earlier runs (`--emulator`). */
  emulatorPromptCounts(): [number, number][] {
    if (this.schemaVersion() < 11) return [];
    return (this.#sql.get(EMULATOR_PROMPT_COUNTS).all() as { key: number; asked: number }[]).map((r) => [r.key, r.asked]);
  }

  /** Saves asks per prompt (a count never goes down). */
  saveEmulatorPromptCounts(counts: readonly (readonly [number, number])[]): void {
    const save = this.#sql.get(SAVE_EMULATOR_PROMPT_COUNT);
    this.#db.transaction(() => {
      for (const [key, asked] of counts) save.run(key, asked);
    })();
  }

  /** Removes rejection marks (of these items, or all), keeping the outputs as they are. */
  clearRejection(itemIds?: readonly string[]): number {
    if (itemIds === undefined) return this.#sql.get(CLEAR_ALL_REJECTIONS).run().changes;
    const statement = this.#sql.get(CLEAR_REJECTION);
    let changed = 0;
    this.#db.transaction(() => {
      for (const id of itemIds) changed += statement.run(id).changes;
    })();
    return changed;
  }
}
