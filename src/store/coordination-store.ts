import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  BUDGET_DAY,
  BUDGET_HELD,
  BUDGET_SPENT,
  BUMP_COOLDOWNS,
  CLAIM_ALERT,
  CLEAR_COOLDOWN,
  COOLDOWNS,
  COOLDOWNS_VERSION,
  COORDINATION_SCHEMA,
  DAILY_COUNT,
  DROP_BUDGET_HOLD,
  DROP_HOLDER,
  DROP_HOLDER_LEASES,
  DROP_HOLDER_RUNS,
  DROP_STALE_LEASES,
  END_LEASE,
  FORGET_OLD_DAYS,
  HOLDERS,
  JOIN_RUN,
  LEASES_IN_FLIGHT,
  LEAVE_RUN,
  PACING,
  PUSH_NEXT_TURN,
  RECENT_WINDOWS,
  RECORD_SPEND,
  RESERVE_BUDGET,
  RETURN_TOKENS,
  RUNS,
  SETTLE_BUDGET_SPEND,
  SET_COOLDOWN,
  SET_DAILY_COUNT,
  SET_PACING,
  SET_WINDOW_STATE,
  TAKE_LEASE,
  TOUCH_HOLDER,
  TURN_READY,
  WINDOWS_SCHEMA,
  WINDOW_STATE,
  forgetDaySql,
} from './sql/coordination.js';
import { ALL_TABLES, dropTableSql } from './sql/schema.js';
import { Statements } from './statements.js';

/**
 * The file every genbatch process of a user on one host shares (under GENBATCH_SHARED_DIR or the
 * XDG state folder): declared limits per quota key (start spacing, calls in flight, tokens per
 * minute, requests per day), cooldowns, the runs that are going, and shared daily budgets. Plain
 * SQLite in WAL mode: each operation is one short transaction, so processes never wait on each other
 * for longer than that, and a process that dies leaves nothing locked.
 */

const SCHEMA_VERSION = 2;

/** What one call asks of a quota key: the gap after its start, and the limits to respect. */
export interface PacingRequest {
  /** Gap (ms) the next start must keep after this one; 0 for none. */
  gapMs: number;
  /** The gap while other processes take turns on the key too (their starts interleave: more room for jitter). */
  sharedGapMs: number;
  concurrency?: number;
  tpm?: number;
  /** Tokens reserved for the call (tpm), corrected at release. */
  tokens: number;
  /** Calls in flight of a holder not seen for this long are no longer counted. */
  staleMs: number;
}

export type PacingTurn =
  | { ok: true; startAt: number; gapMs: number; leaseId: number | undefined; tokens: number; tokensWindow: number }
  | { ok: false; retryAt: number; why: 'concurrency' | 'tokens' };

export interface CooldownRow {
  key: string;
  model: string;
  until: number;
  reason: string;
  perDay: boolean;
  at: number;
  by: string;
  clearedAt: number | undefined;
}

export interface RunEntry {
  runId: string;
  holder: string;
  job: string;
  jobFile: string;
  host: string;
  pid: number;
  startedAt: string;
  projects: string[];
  seenAt: number;
}

export interface BudgetReserveResult {
  ok: boolean;
  holdId: number | undefined;
  spentNano: number;
  heldNano: number;
}

export interface BudgetDayRow {
  job: string;
  project: string;
  nano: number;
  calls: number;
}

const MINUTE_MS = 60_000;
/** Turns of another process on a key this recently mean the key is shared now. */
const SHARED_WITHIN_MS = 10_000;

export class CoordinationStore {
  private readonly sql: Statements;
  /**
   * One transaction function for every operation: better-sqlite3 builds five functions for each one
   * made, and a run makes one or two shared-window changes per call (a twentieth of their CPU).
   */
  private readonly transaction: Database.Transaction<(fn: () => unknown) => unknown>;

  private constructor(private readonly db: Database.Database) {
    this.sql = new Statements(db);
    this.transaction = db.transaction((fn: () => unknown) => fn());
  }

  /** Opens (creating when missing) the shared file; its folder is made private to the user. */
  static open(file: string): CoordinationStore {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const db = new Database(file, { timeout: 5000 });
    db.pragma('journal_mode = WAL');
    // Losing the last commits to a power cut is harmless here; an fsync per call is not.
    db.pragma('synchronous = NORMAL');
    // What the file holds is short-lived (pacing, cooldowns, this week's spend): a file of another layout is started afresh.
    db.transaction(() => {
      if (db.pragma('user_version', { simple: true }) !== SCHEMA_VERSION) {
        const tables = db.prepare(ALL_TABLES).pluck().all() as string[];
        for (const table of tables) db.exec(dropTableSql(table));
        db.exec(COORDINATION_SCHEMA);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }
      // Added to version 2 without a new version: a new version would start afresh and drop the day's shared spend.
      db.exec(WINDOWS_SCHEMA);
    }).immediate();
    return new CoordinationStore(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  private immediate<T>(fn: () => T): T {
    return this.transaction.immediate(fn) as T;
  }

  /** Reads the state of a shared-capacity window, lets `change` make the next one and writes it, in one transaction. */
  changeWindow<T>(key: string, now: number, change: (state: string | undefined) => { state: string; result: T }): T {
    return this.immediate(() => {
      const current = this.sql.get(WINDOW_STATE).pluck().get(key) as string | undefined;
      const { state, result } = change(current);
      this.sql.get(SET_WINDOW_STATE).run(key, state, now);
      return result;
    });
  }

  windowState(key: string): string | undefined {
    return this.sql.get(WINDOW_STATE).pluck().get(key) as string | undefined;
  }

  /** Every window written since `since`. */
  windows(since: number): { key: string; state: string }[] {
    return this.sql.get(RECENT_WINDOWS).all(since) as { key: string; state: string }[];
  }

  touchHolder(id: string, pid: number, host: string, now: number): void {
    this.sql.get(TOUCH_HOLDER).run(id, pid, host, now);
  }

  /** A holder that is gone: its calls in flight and its runs no longer count (its budget holds do: they may have been billed). */
  dropHolder(id: string): void {
    this.immediate(() => {
      this.sql.get(DROP_HOLDER_LEASES).run(id);
      this.sql.get(DROP_HOLDER_RUNS).run(id);
      this.sql.get(DROP_HOLDER).run(id);
    });
  }

  holders(): { id: string; pid: number; host: string; seenAt: number }[] {
    return (this.sql.get(HOLDERS).all() as { id: string; pid: number; host: string; seen_at: number }[]).map((h) => ({
      id: h.id,
      pid: h.pid,
      host: h.host,
      seenAt: h.seen_at,
    }));
  }

  /**
   * Takes the next start of a quota key, in one transaction: a place among the calls in flight and
   * the tokens of the minute if those are limited, then the earliest start that keeps the gap after
   * the previous one. The caller waits until `startAt` (the slot is its own meanwhile). `now` is the
   * pacing clock (the host's monotonic clock, which no wall-clock step bends); `wallNow` the clock of
   * the holders' heartbeats.
   */
  takeTurn(key: string, holder: string, request: PacingRequest, now: number, wallNow: number = now): PacingTurn {
    return this.immediate(() => {
      const row = (this.sql.get(PACING).get(key) as
        { next_at: number; tokens_window: number; tokens_used: number; last_holder: string; last_at: number } | undefined) ?? {
        next_at: 0,
        tokens_window: 0,
        tokens_used: 0,
        last_holder: '',
        last_at: 0,
      };
      if (request.concurrency !== undefined) {
        let inFlight = this.inFlight(key);
        if (inFlight >= request.concurrency) {
          // Slots of processes that stopped being seen (killed) are taken back before refusing.
          this.sql.get(DROP_STALE_LEASES).run(key, wallNow - request.staleMs);
          inFlight = this.inFlight(key);
          if (inFlight >= request.concurrency) return { ok: false, retryAt: now + 10, why: 'concurrency' };
        }
      }
      let window = row.tokens_window;
      let used = row.tokens_used;
      let tokens = 0;
      if (request.tpm !== undefined) {
        if (now >= window + MINUTE_MS) {
          window = now;
          used = 0;
        }
        tokens = Math.min(Math.max(1, Math.round(request.tokens)), request.tpm);
        if (used + tokens > request.tpm) return { ok: false, retryAt: window + MINUTE_MS, why: 'tokens' };
        used += tokens;
      }
      const startAt = Math.max(now, row.next_at);
      const shared = row.last_holder !== '' && row.last_holder !== holder && row.last_at >= now - SHARED_WITHIN_MS;
      const gapMs = shared ? request.sharedGapMs : request.gapMs;
      this.sql.get(SET_PACING).run(key, startAt + gapMs, window, used, holder, now);
      const leaseId = request.concurrency === undefined ? undefined : Number(this.sql.get(TAKE_LEASE).run(key, holder, wallNow).lastInsertRowid);
      return { ok: true, startAt, gapMs, leaseId, tokens, tokensWindow: window };
    });
  }

  private inFlight(key: string): number {
    return (this.sql.get(LEASES_IN_FLIGHT).get(key) as { n: number }).n;
  }

  /** No start of the key before `nextAt` (a call that left late keeps its gap to the next). */
  pushNextTurn(key: string, nextAt: number): void {
    this.sql.get(PUSH_NEXT_TURN).run(nextAt, key);
  }

  /** Whether a call could start now without waiting (no transaction: a hint for choosing a project). */
  turnReady(key: string, request: Pick<PacingRequest, 'concurrency' | 'tpm' | 'staleMs'>, now: number): boolean {
    const row = this.sql.get(TURN_READY).get(key) as { next_at: number; tokens_window: number; tokens_used: number } | undefined;
    if (!row) return true;
    if (row.next_at > now) return false;
    if (request.concurrency !== undefined && this.inFlight(key) >= request.concurrency) return false;
    if (request.tpm !== undefined && now < row.tokens_window + MINUTE_MS && row.tokens_used >= request.tpm) return false;
    return true;
  }

  /** A call ended: its place among the calls in flight is free, and its token reservation is corrected with what it used. */
  endTurn(key: string, leaseId: number | undefined, tokensWindow: number, tokensDelta: number): void {
    if (leaseId === undefined && tokensDelta === 0) return;
    this.immediate(() => {
      if (leaseId !== undefined) this.sql.get(END_LEASE).run(leaseId);
      if (tokensDelta !== 0) this.sql.get(RETURN_TOKENS).run(tokensDelta, key, tokensWindow);
    });
  }

  /** Records a cooldown; one already in force that ends later is kept. Returns whether it changed. */
  setCooldown(row: Omit<CooldownRow, 'clearedAt'>): boolean {
    return this.immediate(() => {
      const changed = this.sql.get(SET_COOLDOWN).run(row.key, row.model, row.until, row.reason, row.perDay ? 1 : 0, row.at, row.by).changes;
      if (changed > 0) this.bumpCooldowns();
      return changed > 0;
    });
  }

  /** A call started after the cooldown was recorded succeeded: the quota is back for everyone. */
  clearCooldown(key: string, startedAt: number, now: number): boolean {
    return this.immediate(() => {
      const changed = this.sql.get(CLEAR_COOLDOWN).run(now, key, startedAt).changes;
      if (changed > 0) this.bumpCooldowns();
      return changed > 0;
    });
  }

  private bumpCooldowns(): void {
    this.sql.get(BUMP_COOLDOWNS).run();
  }

  /** Changes with every cooldown set or cleared: readers reload only when it moved. */
  cooldownsVersion(): number {
    return (this.sql.get(COOLDOWNS_VERSION).get() as { v: number }).v;
  }

  cooldowns(): CooldownRow[] {
    return (
      this.sql.get(COOLDOWNS).all() as {
        key: string;
        model: string;
        until: number;
        reason: string;
        per_day: number;
        at: number;
        by: string;
        cleared_at: number | null;
      }[]
    ).map((r) => ({
      key: r.key,
      model: r.model,
      until: r.until,
      reason: r.reason,
      perDay: r.per_day === 1,
      at: r.at,
      by: r.by,
      clearedAt: r.cleared_at ?? undefined,
    }));
  }

  /** Counts one request of the day for a key if it stays within `rpd` (`floor`: what is known to be made already). */
  countRequest(key: string, day: string, rpd: number, floor: number): { ok: boolean; count: number } {
    return this.immediate(() => {
      const stored = (this.sql.get(DAILY_COUNT).get(key, day) as { count: number } | undefined)?.count ?? 0;
      const count = Math.max(stored, floor);
      if (count >= rpd) return { ok: false, count };
      this.sql.get(SET_DAILY_COUNT).run(key, day, count + 1);
      this.sql.get(FORGET_OLD_DAYS).run(day);
      return { ok: true, count: count + 1 };
    });
  }

  requestsToday(key: string, day: string): number {
    return (this.sql.get(DAILY_COUNT).get(key, day) as { count: number } | undefined)?.count ?? 0;
  }

  joinRun(run: Omit<RunEntry, 'seenAt'>): void {
    this.sql.get(JOIN_RUN).run({ ...run, projects: JSON.stringify(run.projects) });
  }

  leaveRun(runId: string): void {
    this.sql.get(LEAVE_RUN).run(runId);
  }

  /** Runs whose process was seen within `staleMs`. */
  runs(now: number, staleMs: number): RunEntry[] {
    return (
      this.sql.get(RUNS).all(now - staleMs) as {
        run_id: string;
        holder: string;
        job: string;
        job_file: string;
        host: string;
        pid: number;
        started_at: string;
        projects: string;
        seen_at: number;
      }[]
    ).map((r) => ({
      runId: r.run_id,
      holder: r.holder,
      job: r.job,
      jobFile: r.job_file,
      host: r.host,
      pid: r.pid,
      startedAt: r.started_at,
      projects: JSON.parse(r.projects) as string[],
      seenAt: r.seen_at,
    }));
  }

  private budgetTotals(scope: string, day: string): { spentNano: number; heldNano: number } {
    const spent = this.sql.get(BUDGET_SPENT).get(scope, day) as { n: number };
    const held = this.sql.get(BUDGET_HELD).get(scope, day) as { n: number };
    return { spentNano: spent.n, heldNano: held.n };
  }

  /**
   * Holds `nano` of a shared daily budget if what is spent and held stays within `capNano` (always,
   * with `force`: a call already under way). One transaction: two processes never both take the last dollars.
   */
  reserveBudget(scope: string, day: string, capNano: number, nano: number, holder: string, job: string, force: boolean): BudgetReserveResult {
    return this.immediate(() => {
      const totals = this.budgetTotals(scope, day);
      if (!force && totals.spentNano + totals.heldNano + nano > capNano) return { ok: false, holdId: undefined, ...totals };
      const holdId = Number(this.sql.get(RESERVE_BUDGET).run(scope, day, holder, job, nano).lastInsertRowid);
      return { ok: true, holdId, spentNano: totals.spentNano, heldNano: totals.heldNano + nano };
    });
  }

  /** A held call ended: its hold is replaced by what it cost, booked to its job and project. */
  settleBudget(
    holdId: number,
    scope: string,
    day: string,
    job: string,
    project: string | undefined,
    actualNano: number,
  ): { spentNano: number; heldNano: number } {
    return this.immediate(() => {
      this.sql.get(DROP_BUDGET_HOLD).run(holdId);
      // No project: the hold was released without a call (none was sent); no spend row, no call counted.
      if (project !== undefined) this.sql.get(SETTLE_BUDGET_SPEND).run(scope, day, job, project, actualNano);
      return this.budgetTotals(scope, day);
    });
  }

  /** Spend booked without a hold (a credentials file with no shared budget): added per job and project. */
  recordSpend(scope: string, day: string, job: string, rows: readonly { project: string; nano: number; calls: number }[]): void {
    this.immediate(() => {
      for (const row of rows) this.sql.get(RECORD_SPEND).run(scope, day, job, row.project, row.nano, row.calls);
    });
  }

  budgetDay(scope: string, day: string): { spentNano: number; heldNano: number; rows: BudgetDayRow[] } {
    const rows = this.sql.get(BUDGET_DAY).all(scope, day) as BudgetDayRow[];
    return { ...this.budgetTotals(scope, day), rows };
  }

  /** Forgets days before `day` (spend, holds, alerts, request counts): a week is kept for `cost --all`. */
  forgetBefore(day: string): void {
    this.immediate(() => {
      for (const table of ['budget_spend', 'budget_holds', 'budget_alerts', 'daily']) this.sql.get(forgetDaySql(table)).run(day);
    });
  }

  /** True once per scope and day: the first caller sends the alert. */
  claimAlert(scope: string, day: string, now: number): boolean {
    return this.sql.get(CLAIM_ALERT).run(scope, day, now).changes > 0;
  }
}
