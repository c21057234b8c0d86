import type { Statements } from './statements.js';

/** An explicit context cache a run made (`context_caches`, schema 13); times in epoch ms. */
export interface ContextCacheRow {
  name: string;
  step: string;
  project: string;
  location: string;
  model: string;
  tokenCount: number;
  createdAt: number;
  expireAt: number;
  /** The cache's storage is in the ledger up to here. */
  bookedUntil: number;
  endedAt: number | null;
  runId: string;
  /** The display name the cache was created with (found by it when the run died before naming it). */
  displayName?: string | null;
}

/** A row committed before the create call: its name is `pending:<id>` until the create returns. */
export const PENDING_PREFIX = 'pending:';

interface RawRow {
  name: string;
  step: string;
  project: string;
  location: string;
  model: string;
  token_count: number;
  created_at: number;
  expire_at: number;
  booked_until: number;
  ended_at: number | null;
  run_id: string;
  display_name: string | null;
}

const toRow = (r: RawRow): ContextCacheRow => ({
  name: r.name,
  step: r.step,
  project: r.project,
  location: r.location,
  model: r.model,
  tokenCount: r.token_count,
  createdAt: r.created_at,
  expireAt: r.expire_at,
  bookedUntil: r.booked_until,
  endedAt: r.ended_at,
  runId: r.run_id,
  displayName: r.display_name,
});

const INSERT = `INSERT INTO context_caches (name, step, project, location, model, token_count, created_at, expire_at, booked_until, run_id, display_name)
  VALUES (@name, @step, @project, @location, @model, @tokenCount, @createdAt, @expireAt, @bookedUntil, @runId, @displayName)`;
const NAME = `UPDATE context_caches SET name = @name, token_count = @tokenCount, created_at = @createdAt, expire_at = @expireAt, booked_until = @bookedUntil
  WHERE name = @pending`;
const EXTEND = 'UPDATE context_caches SET expire_at = ?, booked_until = max(booked_until, ?) WHERE name = ?';
const END = 'UPDATE context_caches SET ended_at = ?, booked_until = ? WHERE name = ? AND ended_at IS NULL';
const LIVE = 'SELECT * FROM context_caches WHERE ended_at IS NULL ORDER BY created_at';
const ALL = 'SELECT * FROM context_caches ORDER BY created_at';
const STORAGE_ROW = `INSERT INTO ledger (run_id, item_id, step, project, model, http_status, cost_usd, duration_ms, at, context_cache, cache_token_hours)
  VALUES (@runId, NULL, @step, @project, @model, 200, @costUsd, 0, @at, @name, @tokenHours)`;

/** A booking of a cache's storage in the ledger: token-hours (negative to correct) and their cost. */
export interface StorageBooking {
  runId: string;
  cache: Pick<ContextCacheRow, 'name' | 'step' | 'project' | 'model'>;
  tokenHours: number;
  costUsd: number;
}

/**
 * The explicit context caches of a job's state, and their storage in the ledger. Writes run inside
 * the caller's group commit (store.commit): a cache's row and its storage booking are durable together,
 * before the cache is used.
 */
export class ContextCacheQueries {
  readonly #sql: Statements;
  readonly #present: boolean;

  constructor(statements: Statements, present: boolean) {
    this.#sql = statements;
    this.#present = present;
  }

  /** Before the create call: a row named `pending:<id>` with the display name the cache will have. */
  intent(row: Omit<ContextCacheRow, 'endedAt'>): void {
    this.#sql.get(INSERT).run({ ...row, displayName: row.displayName ?? null });
  }

  /** The create returned (or a resume found the cache by its display name): the row named, the storage so far booked. */
  created(pending: string, row: Omit<ContextCacheRow, 'endedAt'>, booking: StorageBooking): void {
    this.#sql.get(NAME).run({ ...row, pending });
    this.book(booking);
  }

  /** A TTL bought again: the new expiry, booked up to it. */
  extended(name: string, expireAt: number, booking: StorageBooking): void {
    this.#sql.get(EXTEND).run(expireAt, expireAt, name);
    this.book(booking);
  }

  /** The cache ended (deleted, or found gone) at `at`; `booking` corrects its storage to that time. */
  ended(name: string, at: number, booking: StorageBooking | undefined): void {
    this.#sql.get(END).run(at, at, name);
    if (booking) this.book(booking);
  }

  /** Caches not known to have ended, oldest first. */
  live(): ContextCacheRow[] {
    if (!this.#present) return [];
    return (this.#sql.get(LIVE).all() as RawRow[]).map(toRow);
  }

  all(): ContextCacheRow[] {
    if (!this.#present) return [];
    return (this.#sql.get(ALL).all() as RawRow[]).map(toRow);
  }

  private book(booking: StorageBooking): void {
    if (booking.tokenHours === 0) return;
    const { cache } = booking;
    this.#sql.get(STORAGE_ROW).run({
      runId: booking.runId,
      step: cache.step,
      project: cache.project,
      model: cache.model,
      costUsd: booking.costUsd,
      at: new Date().toISOString(),
      name: cache.name,
      tokenHours: booking.tokenHours,
    });
  }
}
