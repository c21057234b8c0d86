import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ADD_SPEND, DROP_HOLD, HOLD, HOLDS_NOT_IN, JOURNAL_ID, JOURNAL_SCHEMA, SET_JOURNAL_ID, SPEND_NOT_IN, forgetDaySql } from './sql/spend-journal.js';
import { Statements } from './statements.js';

/** What a host puts back into a Redis that lost it: per scope and day, the spend rows and the holds still open. */
export interface JournalDay {
  scope: string;
  day: string;
  spend: { job: string; project: string; nano: number; calls: number }[];
  holds: { id: string; job: string; nano: number }[];
}

/**
 * What this host booked in a shared budget kept in Redis, kept durably on this host (in the shared
 * file's folder): the holds of calls in flight and the spend per job and project, each with the
 * Redis *epoch* it was booked under. Redis keeps the day's spend in memory only; when it comes back
 * empty (a restart, a flush), a new epoch begins and every host puts back what it booked under the
 * older ones, once (docs/cost-control.md, "Shared budgets when Redis restarts").
 */
export class SpendJournal {
  private readonly sql: Statements;
  readonly id: string;

  private constructor(private readonly db: Database.Database) {
    this.sql = new Statements(db);
    db.exec(JOURNAL_SCHEMA);
    const existing = this.sql.get(JOURNAL_ID).pluck().get() as string | undefined;
    this.id = existing ?? randomUUID();
    if (existing === undefined) this.sql.get(SET_JOURNAL_ID).run(this.id);
  }

  static open(file: string): SpendJournal {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const db = new Database(file, { timeout: 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    return new SpendJournal(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  hold(id: string, scope: string, day: string, job: string, epoch: string, nano: number): void {
    this.sql.get(HOLD).run(id, scope, day, job, epoch, nano);
  }

  /** A hold replaced by what the call cost (or spend booked without a hold: `holdId` undefined). */
  spend(holdId: string | undefined, scope: string, day: string, job: string, project: string | undefined, epoch: string, nano: number, calls = 1): void {
    this.db
      .transaction(() => {
        if (holdId !== undefined) this.sql.get(DROP_HOLD).run(holdId);
        // No project: the hold was released without a call (none was sent); nothing is booked.
        if (project !== undefined) this.sql.get(ADD_SPEND).run(scope, day, job, project, epoch, nano, calls);
      })
      .immediate();
  }

  /** What was booked under epochs other than `epoch` (so not in Redis now), from `sinceDay` on. */
  notIn(epoch: string, sinceDay: string): JournalDay[] {
    const days = new Map<string, JournalDay>();
    const day = (scope: string, d: string): JournalDay => {
      const key = `${scope}\n${d}`;
      let entry = days.get(key);
      if (!entry) days.set(key, (entry = { scope, day: d, spend: [], holds: [] }));
      return entry;
    };
    const spend = this.sql.get(SPEND_NOT_IN).all(epoch, sinceDay) as {
      scope: string;
      day: string;
      job: string;
      project: string;
      nano: number;
      calls: number;
    }[];
    for (const row of spend) day(row.scope, row.day).spend.push({ job: row.job, project: row.project, nano: row.nano, calls: row.calls });
    const holds = this.sql.get(HOLDS_NOT_IN).all(epoch, sinceDay) as {
      id: string;
      scope: string;
      day: string;
      job: string;
      nano: number;
    }[];
    for (const h of holds) day(h.scope, h.day).holds.push({ id: h.id, job: h.job, nano: h.nano });
    return [...days.values()];
  }

  /** Days before `day` are forgotten (Redis keeps budgets a week too). */
  forgetBefore(day: string): void {
    for (const table of ['journal_spend', 'journal_holds']) this.sql.get(forgetDaySql(table)).run(day);
  }
}
