import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { GenbatchError } from '../errors/genbatch-error.js';
import { LedgerQueries } from './ledger-queries.js';
import { migrate } from './migrate.js';
import { Statements } from './statements.js';
import { StepQueries } from './step-queries.js';

import type { StepState } from './step-state.js';
export { STEP_STATES, type StepState } from './step-state.js';

export interface ItemRow {
  id: string;
  ord: number;
  line: number | null;
  values: Record<string, string>;
  inputHash: string;
}

export interface ItemStepRow {
  itemId: string;
  step: string;
  state: StepState;
  attempts: number;
  runId: string | null;
  project: string | null;
  promptHash: string | null;
  result: unknown;
  outputs: string[];
  operationName: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  costUsd: number;
}

export interface LedgerEntry {
  runId: string;
  itemId?: string;
  step?: string;
  project: string;
  model: string;
  httpStatus: number;
  errorCode?: string;
  inputTokens: number;
  outputTokens: number;
  thoughtsTokens: number;
  images: number;
  videoSeconds: number;
  characters: number;
  costUsd: number;
  durationMs: number;
}

export interface RunRow {
  id: string;
  startedAt: string;
  endedAt: string | null;
  outcome: string | null;
  exitCode: number | null;
  pid: number | null;
  host: string | null;
  heartbeatAt: string | null;
}

export interface StepDone {
  result: unknown;
  outputs: string[];
  promptHash: string;
  costUsd: number;
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

/**
 * The job's SQLite state: items, per-step state, runs and the call ledger. Every state change is a
 * single statement or one transaction, committed before the engine moves on, so a crash at any
 * point leaves a file a resume can trust.
 */
export class StateStore {
  /** The connection: SQL runs only in src/store (test/store/no-sql-outside-store.test.ts checks). */
  readonly #db: Database.Database;
  readonly #sql: Statements;
  /** Reads of per-item step state (status, estimates, output files). */
  readonly steps: StepQueries;
  /** Reads of the call ledger (status, cost, estimates, notifications). */
  readonly ledger: LedgerQueries;

  private constructor(
    db: Database.Database,
    readonly file: string,
  ) {
    this.#db = db;
    const statements = new Statements(db);
    this.#sql = statements;
    this.steps = new StepQueries(statements);
    this.ledger = new LedgerQueries(statements);
  }

  static open(file: string, options: { readonly?: boolean } = {}): StateStore {
    if (!options.readonly) mkdirSync(dirname(file), { recursive: true });
    let db: Database.Database;
    try {
      db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    } catch (error) {
      throw new GenbatchError(`Cannot open state file ${file}: ${(error as Error).message}`, {
        code: 'STATE_UNREADABLE',
        exitCode: 2,
        hint: 'Check the path and permissions of the state file (job key `state:`).',
        cause: error,
      });
    }
    db.pragma('busy_timeout = 5000');
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      // NORMAL is durable across process crashes in WAL mode (only an OS crash may lose the last commit).
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, file);
    }
    return new StateStore(db, file);
  }

  /** False once closed. */
  get isOpen(): boolean {
    return this.#db.open;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  getMeta(key: string): string | undefined {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.#db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  // ---- items ---------------------------------------------------------------------------------

  /** Inserts or refreshes items in one transaction and makes sure every step has a row. */
  upsertItems(items: ItemRow[], steps: readonly string[], runId: string): void {
    const upsertItem = this.#db.prepare(
      `INSERT INTO items (id, ord, line, row_json, input_hash, seen_run) VALUES (@id, @ord, @line, @row, @hash, @run)
       ON CONFLICT (id) DO UPDATE SET ord = excluded.ord, line = excluded.line, row_json = excluded.row_json,
         input_hash = excluded.input_hash, seen_run = excluded.seen_run`,
    );
    const ensureStep = this.#db.prepare('INSERT OR IGNORE INTO item_steps (item_id, step) VALUES (?, ?)');
    this.#db.transaction(() => {
      for (const item of items) {
        upsertItem.run({ id: item.id, ord: item.ord, line: item.line, row: JSON.stringify(item.values), hash: item.inputHash, run: runId });
        for (const step of steps) ensureStep.run(item.id, step);
      }
    })();
  }

  /**
   * Items no longer in the input: their unfinished work is dropped (the person removed them); items
   * with a finished step are kept, so status and results still account for what was paid.
   */
  retireUnseenItems(runId: string): number {
    return this.#db
      .prepare(
        `DELETE FROM items WHERE (seen_run IS NULL OR seen_run <> ?) AND NOT EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = items.id AND s.state = 'done')`,
      )
      .run(runId).changes;
  }

  itemCount(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;
  }

  getItem(id: string): ItemRow | undefined {
    const row = this.#db.prepare('SELECT id, ord, line, row_json, input_hash FROM items WHERE id = ?').get(id) as
      { id: string; ord: number; line: number | null; row_json: string; input_hash: string } | undefined;
    return row && { id: row.id, ord: row.ord, line: row.line, values: JSON.parse(row.row_json) as Record<string, string>, inputHash: row.input_hash };
  }

  /**
   * Items with work left, in input order after `afterOrd`: a pending step and no failed or filtered
   * step before it (a failed link stops its chain until it is retried).
   */
  pendingItems(afterOrd: number, limit: number): ItemRow[] {
    const rows = this.#db
      .prepare(
        `SELECT i.id, i.ord, i.line, i.row_json, i.input_hash FROM items i
         WHERE i.ord > ?
           AND EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.state = 'pending')
           AND NOT EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.state IN ('failed', 'filtered', 'running'))
         ORDER BY i.ord LIMIT ?`,
      )
      .all(afterOrd, limit) as { id: string; ord: number; line: number | null; row_json: string; input_hash: string }[];
    return rows.map((row) => ({
      id: row.id,
      ord: row.ord,
      line: row.line,
      values: JSON.parse(row.row_json) as Record<string, string>,
      inputHash: row.input_hash,
    }));
  }

  pendingItemCount(): number {
    return (
      this.#db
        .prepare(
          `SELECT count(*) AS n FROM items i
           WHERE EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.state IN ('pending', 'running'))
             AND NOT EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.state IN ('failed', 'filtered'))`,
        )
        .get() as { n: number }
    ).n;
  }

  itemSteps(itemId: string): ItemStepRow[] {
    return (this.#db.prepare('SELECT * FROM item_steps WHERE item_id = ?').all(itemId) as RawItemStep[]).map(toItemStep);
  }

  allItemSteps(): ItemStepRow[] {
    return (this.#db.prepare('SELECT s.* FROM item_steps s JOIN items i ON i.id = s.item_id ORDER BY i.ord').all() as RawItemStep[]).map(toItemStep);
  }

  /** Items in input order, streamed (results files can be large). */
  *iterateItems(): Generator<ItemRow> {
    const statement = this.#db.prepare('SELECT id, ord, line, row_json, input_hash FROM items ORDER BY ord');
    for (const row of statement.iterate() as Iterable<{ id: string; ord: number; line: number | null; row_json: string; input_hash: string }>) {
      yield { id: row.id, ord: row.ord, line: row.line, values: JSON.parse(row.row_json) as Record<string, string>, inputHash: row.input_hash };
    }
  }

  // ---- step transitions ------------------------------------------------------------------------

  /** `running` rows whose run is not this one: left by a dead run, back to pending. */
  recoverAbandoned(currentRunId: string): number {
    return this.#db
      .prepare(`UPDATE item_steps SET state = 'pending', run_id = NULL, updated_at = ? WHERE state = 'running' AND (run_id IS NULL OR run_id <> ?)`)
      .run(now(), currentRunId).changes;
  }

  /**
   * Throws when a guarded transition changed no row: the step was not in the state this run left it
   * in (another run took it over, or it was reset meanwhile). Nothing is overwritten then.
   */
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
      ? { sql: `state IN ('pending', 'running')`, params: [], expected: 'pending or running' }
      : { sql: `state = 'running' AND run_id = ?`, params: [runId], expected: `running in run ${runId}` };
  }

  /** pending → running, in this run and on this project. */
  markRunning(itemId: string, step: string, runId: string, project: string): void {
    const changes = this.#sql
      .get(`UPDATE item_steps SET state = 'running', run_id = ?, project = ?, updated_at = ? WHERE item_id = ? AND step = ? AND state = 'pending'`)
      .run(runId, project, now(), itemId, step).changes;
    this.#expectChanged(changes, itemId, step, 'pending');
  }

  /** running → pending after a requeued or retried call; `countAttempt` when it used an attempt. */
  markPending(
    itemId: string,
    step: string,
    options: { countAttempt: boolean; errorCode?: string; errorMessage?: string; costUsd?: number; runId?: string },
  ): void {
    const guard = this.#guard(options.runId);
    const changes = this.#sql
      .get(
        `UPDATE item_steps SET state = 'pending', run_id = NULL, attempts = attempts + ?, error_code = ?, error_message = ?, cost_usd = cost_usd + ?, updated_at = ?
         WHERE item_id = ? AND step = ? AND ${guard.sql}`,
      )
      .run(
        options.countAttempt ? 1 : 0,
        options.errorCode ?? null,
        options.errorMessage ?? null,
        options.costUsd ?? 0,
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
    const changes = this.#sql
      .get(`UPDATE item_steps SET operation_name = ?, updated_at = ? WHERE item_id = ? AND step = ? AND ${guard.sql}`)
      .run(operationName, now(), itemId, step, ...guard.params).changes;
    this.#expectChanged(changes, itemId, step, guard.expected);
  }

  /**
   * The step's outcome and its call's ledger row, committed together. When the guard fails, the
   * ledger row is still committed (the call was paid for) and a conflict is thrown.
   */
  completeStep(itemId: string, step: string, done: StepDone, call?: LedgerEntry, runId?: string): void {
    const guard = this.#guard(runId);
    const changes = this.#db.transaction(() => {
      if (call) this.insertLedger(call);
      return this.#sql
        .get(
          `UPDATE item_steps SET state = 'done', run_id = NULL, attempts = attempts + 1, result_json = ?, outputs_json = ?, prompt_hash = ?,
             cost_usd = cost_usd + ?, error_code = NULL, error_message = NULL, operation_name = NULL, updated_at = ?
           WHERE item_id = ? AND step = ? AND ${guard.sql}`,
        )
        .run(JSON.stringify(done.result ?? null), JSON.stringify(done.outputs), done.promptHash, done.costUsd, now(), itemId, step, ...guard.params).changes;
    })();
    this.#expectChanged(changes, itemId, step, guard.expected);
  }

  /** failed or filtered: from `running` in this run, or from `pending` (a step that could not even be rendered). */
  finishStep(
    itemId: string,
    step: string,
    state: 'failed' | 'filtered',
    error: { code: string; message: string; promptHash?: string; costUsd?: number },
    call?: LedgerEntry,
    runId?: string,
  ): void {
    const guard =
      runId === undefined
        ? this.#guard(undefined)
        : { sql: `(state = 'pending' OR (state = 'running' AND run_id = ?))`, params: [runId], expected: `pending or running in run ${runId}` };
    const changes = this.#db.transaction(() => {
      if (call) this.insertLedger(call);
      return this.#sql
        .get(
          `UPDATE item_steps SET state = ?, run_id = NULL, attempts = attempts + 1, error_code = ?, error_message = ?, prompt_hash = coalesce(?, prompt_hash),
             cost_usd = cost_usd + ?, updated_at = ? WHERE item_id = ? AND step = ? AND ${guard.sql}`,
        )
        .run(state, error.code, error.message, error.promptHash ?? null, error.costUsd ?? 0, now(), itemId, step, ...guard.params).changes;
    })();
    this.#expectChanged(changes, itemId, step, guard.expected);
  }

  /** Puts chosen steps (and every later step of those items) back to pending. */
  resetSteps(itemIds: readonly string[] | 'all', fromSteps: readonly string[], states: readonly StepState[]): number {
    const placeholders = fromSteps.map(() => '?').join(',');
    const statePlaceholders = states.map(() => '?').join(',');
    const statement = this.#db.prepare(
      `UPDATE item_steps SET state = 'pending', attempts = 0, run_id = NULL, error_code = NULL, error_message = NULL, operation_name = NULL, updated_at = ?
       WHERE item_id = ? AND step IN (${placeholders}) AND state IN (${statePlaceholders})`,
    );
    const ids = itemIds === 'all' ? (this.#db.prepare('SELECT id FROM items').pluck().all() as string[]) : itemIds;
    let changed = 0;
    this.#db.transaction(() => {
      for (const id of ids) changed += statement.run(now(), id, ...fromSteps, ...states).changes;
    })();
    return changed;
  }

  // ---- ledger -------------------------------------------------------------------------------------

  insertLedger(entry: LedgerEntry): void {
    this.#db
      .prepare(
        `INSERT INTO ledger (run_id, item_id, step, project, model, http_status, error_code, input_tokens, output_tokens, thoughts_tokens,
           images, video_seconds, characters, cost_usd, duration_ms, at)
         VALUES (@runId, @itemId, @step, @project, @model, @httpStatus, @errorCode, @inputTokens, @outputTokens, @thoughtsTokens,
           @images, @videoSeconds, @characters, @costUsd, @durationMs, @at)`,
      )
      .run({ itemId: null, step: null, errorCode: null, ...entry, at: now() });
  }

  /** Requests to a project and model since a time (ISO), from the ledger: `rpd` across runs. */
  requestsSince(project: string, model: string, sinceIso: string): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM ledger WHERE project = ? AND model = ? AND at >= ?').get(project, model, sinceIso) as { n: number }).n;
  }

  // ---- project health ------------------------------------------------------------------------------

  /** Replaces the saved project health (cooldowns and daily exhaustion still in force). */
  /** Rows are keyed `project/model` (project names cannot contain a slash). */
  saveProjectStates(states: readonly { project: string; model: string; state: string; until: number; reason: string }[]): void {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM project_state').run();
      const insert = this.#db.prepare('INSERT INTO project_state (project, state, until_at, reason, updated_at) VALUES (?, ?, ?, ?, ?)');
      for (const s of states) insert.run(`${s.project}/${s.model}`, s.state, new Date(s.until).toISOString(), s.reason, now());
    })();
  }

  loadProjectStates(): { project: string; model: string; state: 'cooling' | 'exhausted'; until: number; reason: string }[] {
    const rows = this.#db.prepare('SELECT project, state, until_at, reason FROM project_state').all() as {
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
   * Takes the job's run lock (one active run per job), atomically. A lock whose holder is dead (same
   * host, no such process) or silent (no heartbeat for `staleMs`) is taken over; a live one is
   * returned so the caller can name it.
   */
  acquireLock(
    holder: { runId: string; pid: number; host: string },
    isAlive: (pid: number, host: string) => boolean,
    staleMs = 60_000,
  ):
    | { acquired: true; tookOver?: { runId: string; pid: number; host: string } }
    | { acquired: false; holder: { runId: string; pid: number; host: string; heartbeatAt: string } } {
    return this.#db
      .transaction(() => {
        const row = this.#db.prepare("SELECT value FROM meta WHERE key = 'lock'").get() as { value: string } | undefined;
        const current = row ? (JSON.parse(row.value) as { runId: string; pid: number; host: string; heartbeatAt: string }) : undefined;
        let tookOver: { runId: string; pid: number; host: string } | undefined;
        if (current) {
          const silentFor = Date.now() - Date.parse(current.heartbeatAt);
          if (isAlive(current.pid, current.host) && silentFor < staleMs) return { acquired: false as const, holder: current };
          tookOver = { runId: current.runId, pid: current.pid, host: current.host };
          this.#db.prepare("UPDATE runs SET ended_at = coalesce(ended_at, ?), outcome = coalesce(outcome, 'crashed') WHERE id = ?").run(now(), current.runId);
        }
        this.setMeta('lock', JSON.stringify({ ...holder, heartbeatAt: now() }));
        return tookOver ? { acquired: true as const, tookOver } : { acquired: true as const };
      })
      .immediate();
  }

  /** Keeps the lock fresh while the run lives. */
  touchLock(runId: string): void {
    const row = this.getMeta('lock');
    if (!row) return;
    const lock = JSON.parse(row) as { runId: string };
    if (lock.runId === runId) this.setMeta('lock', JSON.stringify({ ...lock, heartbeatAt: now() }));
  }

  releaseLock(runId: string): void {
    const row = this.getMeta('lock');
    if (row && (JSON.parse(row) as { runId: string }).runId === runId) this.#db.prepare("DELETE FROM meta WHERE key = 'lock'").run();
  }

  /** Spend recorded in the ledger: in all, and since a time (ISO). */
  spentUsd(sinceIso?: string): number {
    const row = (
      sinceIso === undefined
        ? this.#db.prepare('SELECT coalesce(sum(cost_usd), 0) AS usd FROM ledger').get()
        : this.#db.prepare('SELECT coalesce(sum(cost_usd), 0) AS usd FROM ledger WHERE at >= ?').get(sinceIso)
    ) as { usd: number };
    return row.usd;
  }

  // ---- runs ------------------------------------------------------------------------------------------

  startRun(run: { id: string; pid: number; host: string; options: unknown }): void {
    this.#db
      .prepare('INSERT INTO runs (id, started_at, pid, host, heartbeat_at, options_json) VALUES (?, ?, ?, ?, ?, ?)')
      .run(run.id, now(), run.pid, run.host, now(), JSON.stringify(run.options));
  }

  heartbeat(runId: string): void {
    this.#db.prepare('UPDATE runs SET heartbeat_at = ? WHERE id = ?').run(now(), runId);
    this.touchLock(runId);
  }

  endRun(runId: string, outcome: string, exitCode: number): void {
    this.#db.prepare('UPDATE runs SET ended_at = ?, outcome = ?, exit_code = ? WHERE id = ?').run(now(), outcome, exitCode, runId);
  }

  lastRun(): RunRow | undefined {
    const row = this.#db.prepare('SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1').get() as RawRun | undefined;
    return row && toRun(row);
  }

  getRun(id: string): RunRow | undefined {
    const row = this.#db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RawRun | undefined;
    return row && toRun(row);
  }

  // ---- review (observe helper) ----

  /**
   * Marks the done steps of items (among `steps`) as rejected by a reviewer. Their state does not
   * change (the outputs stay until `retry --rejected`); returns the rows marked.
   */
  rejectSteps(itemIds: readonly string[], steps: readonly string[], note: string | null): number {
    if (steps.length === 0) return 0;
    const statement = this.#db.prepare(
      `UPDATE item_steps SET rejected_at = ?, rejected_note = ? WHERE item_id = ? AND state = 'done' AND step IN (${steps.map(() => '?').join(',')})`,
    );
    const at = now();
    let changed = 0;
    this.#db.transaction(() => {
      for (const id of itemIds) changed += statement.run(at, note, id, ...steps).changes;
    })();
    return changed;
  }

  /** Rejected steps, in input order. */
  rejectedSteps(): { itemId: string; step: string; note: string | null; at: string }[] {
    return this.#db
      .prepare(
        `SELECT s.item_id AS itemId, s.step, s.rejected_note AS note, s.rejected_at AS at
         FROM item_steps s JOIN items i ON i.id = s.item_id WHERE s.rejected_at IS NOT NULL ORDER BY i.ord, s.step`,
      )
      .all() as { itemId: string; step: string; note: string | null; at: string }[];
  }

  /** Ids of items with a rejected step, in input order. */
  rejectedItemIds(): string[] {
    return this.#db
      .prepare('SELECT i.id FROM items i WHERE EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = i.id AND s.rejected_at IS NOT NULL) ORDER BY i.ord')
      .pluck()
      .all() as string[];
  }

  /**
   * `retry --rejected`: for every item with a rejected step, puts that step and every later one
   * (in `stepOrder`) back to pending and clears the marks, in one statement. Returns the steps reset.
   */
  retryRejected(stepOrder: readonly string[]): number {
    if (stepOrder.length === 0) return 0;
    const values = stepOrder.map(() => '(?, ?)').join(', ');
    const statement = this.#db.prepare(
      `WITH step_order (step, n) AS (VALUES ${values}),
         first_rejected (item_id, n) AS (
           SELECT s.item_id, min(o.n) FROM item_steps s JOIN step_order o ON o.step = s.step
           WHERE s.rejected_at IS NOT NULL GROUP BY s.item_id)
       UPDATE item_steps SET state = 'pending', attempts = 0, run_id = NULL, error_code = NULL, error_message = NULL, operation_name = NULL,
         rejected_at = NULL, rejected_note = NULL, updated_at = ?
       WHERE state <> 'running' AND EXISTS (
         SELECT 1 FROM first_rejected f JOIN step_order o ON o.step = item_steps.step
         WHERE f.item_id = item_steps.item_id AND o.n >= f.n)`,
    );
    return statement.run(...stepOrder.flatMap((step, n) => [step, n]), now()).changes;
  }

  /** Removes rejection marks (of these items, or all), keeping the outputs as they are. */
  clearRejection(itemIds?: readonly string[]): number {
    if (itemIds === undefined)
      return this.#db.prepare('UPDATE item_steps SET rejected_at = NULL, rejected_note = NULL WHERE rejected_at IS NOT NULL').run().changes;
    const statement = this.#db.prepare('UPDATE item_steps SET rejected_at = NULL, rejected_note = NULL WHERE item_id = ? AND rejected_at IS NOT NULL');
    let changed = 0;
    this.#db.transaction(() => {
      for (const id of itemIds) changed += statement.run(id).changes;
    })();
    return changed;
  }
}
