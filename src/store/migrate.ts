import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type Database from 'better-sqlite3';
import { GenbatchError } from '../errors/genbatch-error.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

interface Migration {
  version: number;
  file: string;
  sql: string;
}

function listMigrations(): Migration[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((name) => /^\d{3}-.*\.sql$/.test(name))
    .sort()
    .map((file) => ({ version: Number(file.slice(0, 3)), file, sql: readFileSync(MIGRATIONS_DIR + file, 'utf8') }));
}

export const LATEST_SCHEMA_VERSION = listMigrations().at(-1)?.version ?? 0;

/**
 * Brings the state file to the latest schema, each migration in its own transaction. A file written
 * by a newer genbatch is refused rather than misread.
 */
export function migrate(db: Database.Database, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > LATEST_SCHEMA_VERSION) {
    throw new GenbatchError(`State file ${file} has schema version ${current}, but this genbatch understands up to ${LATEST_SCHEMA_VERSION}.`, {
      code: 'STATE_TOO_NEW',
      exitCode: 2,
      hint: 'It was written by a newer genbatch: upgrade genbatch (npm install genbatch@latest), or point `state:` at a new file to start over.',
    });
  }
  for (const migration of listMigrations()) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
}
