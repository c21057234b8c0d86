import type Database from 'better-sqlite3';

/**
 * The prepared statements of one connection, keyed by their SQL: each is prepared on first use and
 * kept for the life of the store (statements die with their connection). Lazy, so a read-only
 * store on a file that lacks a table fails only when that table is read.
 */
export class Statements {
  readonly #db: Database.Database;
  readonly #prepared = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  get(sql: string): Database.Statement {
    let statement = this.#prepared.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#prepared.set(sql, statement);
    }
    return statement;
  }
}
