import { copyFileSync, existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { StateFileError } from '../../src/errors/state-file-error.js';
import { setDamagedStateAside } from '../../src/store/fresh-state.js';
import { precheckStateFile } from '../../src/store/state-file-check.js';
import { isKnownSound } from '../../src/store/state-stamp.js';
import { StateStore } from '../../src/store/state-store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/** A small real state file (closed cleanly, so recorded as sound). */
function stateFile(): string {
  const dir = tempDir();
  mkdirSync(join(dir, '.genbatch'));
  const file = join(dir, '.genbatch', 'job.db');
  const store = StateStore.open(file);
  store.upsertItems(
    Array.from({ length: 300 }, (_, i) => ({
      id: `item-${i}`,
      ord: i,
      line: i + 2,
      values: { title: `a title long enough to fill pages ${i}` },
      inputHash: `h${i}`,
    })),
    ['a', 'b'],
    'run-1',
  );
  store.close();
  return file;
}

function refusal(run: () => unknown): StateFileError {
  try {
    run();
  } catch (error) {
    if (error instanceof StateFileError) return error;
    throw error;
  }
  throw new Error('not refused');
}

describe('precheckStateFile: the checks that cost nothing', () => {
  it('a missing file is a new job; a sound one passes', () => {
    const file = stateFile();
    expect(precheckStateFile(join(file, '..', 'other.db'))).toBe(false);
    expect(precheckStateFile(file)).toBe(true);
  });

  it('refuses an empty file, unless its -wal holds the pages (a run killed before its first checkpoint)', () => {
    const file = stateFile();
    truncateSync(file, 0);
    expect(refusal(() => precheckStateFile(file))).toMatchObject({ problem: 'empty', code: 'STATE_EMPTY', exitCode: 2, file, keyPath: 'state' });
    writeFileSync(`${file}-wal`, 'pages');
    expect(precheckStateFile(file)).toBe(true);
  });

  it('refuses another kind of file, and a file cut short (within the header, mid-page, at a page boundary)', () => {
    const file = stateFile();
    const good = `${file}.good`;
    copyFileSync(file, good);
    writeFileSync(file, '{"this": "is JSON"}');
    expect(refusal(() => precheckStateFile(file)).problem).toBe('not_sqlite');
    for (const [size, says] of [
      [10, /cut short \(10 bytes\)/],
      [60, /less than its header/],
      [4096 + 17, /cut short: it holds 4113 bytes of the \d+ its header says/],
      [8192, /cut short: it holds 8192 bytes of the \d+ its header says/],
    ] as const) {
      copyFileSync(good, file);
      truncateSync(file, size);
      const error = refusal(() => precheckStateFile(file));
      expect(error.problem).toBe('truncated');
      expect(error.message).toMatch(says);
      expect(error.canSetAside).toBe(true);
    }
  });
});

describe('StateStore.open', () => {
  it('records a cleanly closed file as sound, and forgets it as soon as the file changes', () => {
    const file = stateFile();
    expect(isKnownSound(file)).toBe(true);
    const db = new Database(file);
    db.exec("INSERT INTO meta (key, value) VALUES ('touched', 'by someone else')");
    db.close();
    expect(isKnownSound(file)).toBe(false);
    StateStore.open(file, { readonly: true }).close();
    expect(isKnownSound(file)).toBe(true);
  });

  it('refuses a database that is not a state file, without writing into it', () => {
    const dir = tempDir();
    const file = join(dir, 'app.db');
    const db = new Database(file);
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY)');
    db.close();
    expect(refusal(() => StateStore.open(file))).toMatchObject({ problem: 'foreign', canSetAside: false });
    const after = new Database(file, { readonly: true });
    expect(after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()).toEqual(['users']);
    expect(after.pragma('user_version', { simple: true })).toBe(0);
    after.close();
  });

  it('opens a SQLite file with no table yet (a first run killed before its schema) as a new job', () => {
    const dir = tempDir();
    const file = join(dir, 'new.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.close();
    const store = StateStore.open(file);
    expect(store.itemCount()).toBe(0);
    store.close();
  });
});

describe('setDamagedStateAside (run --fresh-state)', () => {
  it('moves a damaged file and its -wal aside under a dated name and keeps them; leaves a sound file alone', () => {
    const file = stateFile();
    expect(setDamagedStateAside(join(file, '..', 'none.db'))).toEqual({ kept: 'missing' });
    expect(setDamagedStateAside(file)).toEqual({ kept: 'sound' });
    writeFileSync(file, 'garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage');
    writeFileSync(`${file}-wal`, '');
    const aside = `${file}.damaged-20260304T050607`;
    expect(setDamagedStateAside(file, new Date('2026-03-04T05:06:07Z'))).toEqual({ movedTo: aside });
    expect(readFileSync(aside, 'utf8')).toMatch(/^garbage/);
    expect(existsSync(`${aside}-wal`)).toBe(true);
    expect(precheckStateFile(file)).toBe(false);
  });

  it("refuses a file that is not genbatch's: moving it aside is not the remedy", () => {
    const dir = tempDir();
    const file = join(dir, 'app.db');
    const db = new Database(file);
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY)');
    db.close();
    expect(refusal(() => setDamagedStateAside(file)).problem).toBe('foreign');
    expect(existsSync(file)).toBe(true);
  });
});
