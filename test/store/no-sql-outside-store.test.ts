import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

/** What running SQL looks like in source: a connection's methods, the driver, or SQL text itself. */
const SQL_PATTERNS: readonly { what: string; pattern: RegExp }[] = [
  { what: 'better-sqlite3', pattern: /\bfrom\s+['"]better-sqlite3['"]|\b(?:require|import)\(\s*['"]better-sqlite3['"]/ },
  // Other objects have prepare and exec methods too (executors, RegExp): SQL is a string literal,
  // often on the next line, or the receiver is the database.
  { what: '.prepare(', pattern: /\.prepare\(\s*(?:['"`]|$)|\b\w*(?:db|database|sqlite|connection)\.prepare\(/i },
  { what: '.pragma(', pattern: /\.pragma\(/ },
  { what: '.exec(', pattern: /\.exec\(\s*(?:['"`]|$)|\b\w*(?:db|database|sqlite|connection)\.exec\(/i },
  { what: 'SQL text', pattern: /\b(?:SELECT\b[^'"`]*\bFROM|INSERT\s+(?:OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|PRAGMA\s+\w+)\b/ },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.isFile() && entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('SQL lives in src/store', () => {
  it('no module outside src/store runs SQL or opens the database (StateStore methods are the only way in)', () => {
    const src = join(REPO, 'src');
    const store = join(src, 'store');
    const offences: string[] = [];
    for (const file of sourceFiles(src)) {
      if (!relative(store, file).startsWith('..')) continue;
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((text, i) => {
          for (const { what, pattern } of SQL_PATTERNS) {
            if (pattern.test(text)) offences.push(`${relative(REPO, file)}:${i + 1}: ${what}: ${text.trim().slice(0, 120)}`);
          }
        });
    }
    expect(
      offences,
      `SQL outside src/store: add a named read method in src/store (step-queries.ts, ledger-queries.ts) and call it instead.\n${offences.join('\n')}`,
    ).toEqual([]);
  });

  it('the patterns catch what they are for, and not regular expressions', () => {
    const hits = (line: string): string[] => SQL_PATTERNS.filter((p) => p.pattern.test(line)).map((p) => p.what);
    expect(hits("import Database from 'better-sqlite3';")).toEqual(['better-sqlite3']);
    expect(hits("import type Database from 'better-sqlite3';")).toEqual(['better-sqlite3']);
    expect(hits("const n = store.db.prepare('SELECT count(*) AS n FROM ledger').get();")).toEqual(['.prepare(', 'SQL text']);
    expect(hits('  const rows = store.db')).toEqual([]);
    expect(hits('    .prepare(')).toEqual(['.prepare(']);
    expect(hits('const statement = db.prepare(sql);')).toEqual(['.prepare(']);
    expect(hits('const { call } = this.options.executor.prepare([unit]);')).toEqual([]);
    expect(hits("db.pragma('user_version = 3');")).toEqual(['.pragma(']);
    expect(hits('db.exec(sql);')).toEqual(['.exec(']);
    expect(hits('handle.exec(`CREATE TABLE t (x)`);')).toEqual(['.exec(']);
    expect(hits("  `UPDATE item_steps SET state = 'done'`")).toEqual(['SQL text']);
    expect(hits('const match = /^(\\d+)s$/.exec(value);')).toEqual([]);
    expect(hits('let match = MODEL_PATH.exec(url.pathname);')).toEqual([]);
    expect(hits("throw new Error('Select a project from the list');")).toEqual([]);
  });
});
