import {
  copyFileSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { NOTE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { bindReadOnly, canMakeImmutable, canMount, setImmutable, unmount } from '../helpers/mounts.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const ITEMS = 10;

interface Fixture {
  dir: string;
  job: string;
  state: string;
  emulator: RunningEmulator;
}

/** A job of 10 items run to the end against an emulator: a state file with done items, and its backup. */
async function finishedJob(): Promise<Fixture> {
  emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 5 }), { port: 0 });
  const dir = tempDir();
  writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
  const job = writeJob(dir, { items: ITEMS, steps: NOTE_STEP, limits: '{ concurrency: 4 }', extra: 'results: out/results.csv\n' });
  const run = await runCli(['run', job, '--yes']);
  expect(run.code).toBe(0);
  return { dir, job, state: join(dir, '.genbatch', 'quota-job.db'), emulator };
}

/** The refusal every damaged-file case must give: exit 2, the file named, what to do, no stack trace, nothing sent. */
async function expectRefused(f: Fixture, args: string[], what: RegExp): Promise<CliResult> {
  const before = f.emulator.log().length;
  const result = await runCli(args);
  expect(result.stderr).toMatch(what);
  expect(result.stderr).toContain('.genbatch/quota-job.db');
  expect(result.stderr).not.toMatch(/\n\s+at |crashed|this is a bug|state file is consistent/i);
  expect(result.code).toBe(2);
  expect(f.emulator.log().length).toBe(before);
  return result;
}

/** Damage that leaves no -wal behind (SQLite would otherwise replay it over the damaged file). */
function replaceState(state: string, write: () => void): void {
  for (const suffix of ['-wal', '-shm']) rmSync(`${state}${suffix}`, { force: true });
  write();
}

const DAMAGES: { name: string; damage: (state: string) => void; says: RegExp }[] = [
  { name: 'a 0-byte file', damage: (s) => truncateSync(s, 0), says: /is empty \(0 bytes\)/ },
  { name: 'a truncated file', damage: (s) => truncateSync(s, 8192 + 100), says: /is cut short/ },
  { name: 'a file cut at a page boundary', damage: (s) => truncateSync(s, 8192), says: /is cut short: it holds 8192 bytes of the \d+ its header says/ },
  { name: 'garbage', damage: (s) => writeFileSync(s, Buffer.alloc(50_000, 'not a database\n')), says: /is not a SQLite database/ },
  {
    name: 'a damaged page in the middle (found by PRAGMA quick_check)',
    damage: (s) => {
      const pages = statSync(s).size / 4096;
      const fd = openSync(s, 'r+');
      // A page of the tables' b-trees: scribbled over, keeping the size and the header intact.
      writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 4096 * Math.floor(pages / 2));
      closeSync(fd);
    },
    // Found by the integrity check (or by SQLite itself while it reads the schema and the lock).
    says: /is damaged(: SQLite's integrity check found "Tree \d+ page \d+| \(SQLite: database disk image is malformed\))/,
  },
];

describe('a damaged state file is refused, never taken for a fresh job', () => {
  for (const { name, damage, says } of DAMAGES) {
    it(`${name}: run, resume and status exit 2 naming the file and what to do; nothing is sent`, async () => {
      const f = await finishedJob();
      replaceState(f.state, () => damage(f.state));
      const run = await expectRefused(f, ['run', f.job, '--yes'], says);
      expect(run.stderr).toMatch(/Nothing was sent/);
      // What to do: the backup (with its path), or an explicit fresh start.
      expect(run.stderr).toMatch(/hint: Restore the backup taken at \S+ \(\S*\.genbatch\/quota-job\.db\.bak\)/);
      expect(run.stderr).toMatch(/--fresh-state/);
      await expectRefused(f, ['resume', f.job, '--yes'], says);
      await expectRefused(f, ['status', f.job], says);
    });
  }

  it('a SQLite file that is not a state file (another database) is refused, not written into', async () => {
    const f = await finishedJob();
    replaceState(f.state, () => {
      rmSync(f.state);
      const other = new Database(f.state);
      other.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)');
      other.close();
    });
    await expectRefused(f, ['run', f.job, '--yes'], /is not a genbatch state file: it is a SQLite database with other tables \(customers\)/);
    const tables = readStateFile(f.state, (db) => db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all());
    expect(tables).toEqual(['customers']);
  });

  it.skipIf(!canMount)('a state folder on read-only storage: run refuses with exit 2 saying so, nothing sent', async () => {
    const f = await finishedJob();
    const folder = join(f.dir, '.genbatch');
    bindReadOnly(folder);
    try {
      await expectRefused(f, ['run', f.job, '--yes'], /Cannot use the state file .*: its folder is read-only/);
      await expectRefused(f, ['status', f.job], /Cannot use the state file .*: its folder is read-only/);
    } finally {
      unmount(folder);
    }
    // Once writable again, the job resumes as it was.
    const resumed = await runCli(['resume', f.job, '--yes']);
    expect(resumed.stderr).toMatch(/Nothing to do/);
    expect(resumed.code).toBe(0);
  });
});

describe('a read-only state file (immutable: even root cannot write it)', () => {
  it.skipIf(!canMakeImmutable)('run refuses with exit 2 saying so and sends nothing; status still reads it', async () => {
    const f = await finishedJob();
    expect(setImmutable(f.state, true)).toBe(true);
    try {
      await expectRefused(f, ['run', f.job, '--yes'], /Cannot use the state file .*: the file is read-only/);
      const status = await runCli(['status', f.job]);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/10 items — 10 done/);
    } finally {
      setImmutable(f.state, false);
    }
  });
});

/** Done steps served from the response cache. */
const cachedSteps = (stateFile: string): number =>
  readStateFile(stateFile, (db) => (db.prepare('SELECT count(*) AS n FROM item_steps WHERE cached = 1').get() as { n: number }).n);

describe('run --fresh-state', () => {
  it('moves a damaged state file aside (kept, not deleted) and starts over', async () => {
    const f = await finishedJob();
    replaceState(f.state, () => writeFileSync(f.state, Buffer.alloc(20_000, 'garbage')));
    const before = f.emulator.log().length;
    const fresh = await runCli(['run', f.job, '--yes', '--fresh-state']);
    expect(fresh.stderr).toMatch(/Moved the damaged state file aside to \S*\.genbatch\/quota-job\.db\.damaged-\d{8}T\d{6}; starting over/);
    expect(fresh.code).toBe(0);
    // Starting over costs nothing: every answer comes from the response cache, without a call.
    expect(f.emulator.log().length - before).toBe(0);
    expect(stepStates(f.state)).toEqual({ done: ITEMS });
    expect(cachedSteps(f.state)).toBe(ITEMS);
    const aside = readdirSync(join(f.dir, '.genbatch')).filter((n) => n.startsWith('quota-job.db.damaged-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(f.dir, '.genbatch', aside[0] as string))).toEqual(Buffer.alloc(20_000, 'garbage'));
  });

  it('leaves a sound state file alone: it is resumed (nothing to do), no call, nothing moved aside', async () => {
    const f = await finishedJob();
    const before = f.emulator.log().length;
    const kept = await runCli(['run', f.job, '--yes', '--fresh-state']);
    expect(kept.stderr).toMatch(/--fresh-state: the state file \S*\.genbatch\/quota-job\.db is sound; it is kept and resumed/);
    expect(kept.stderr).toMatch(/Nothing to do/);
    expect(kept.code).toBe(0);
    expect(f.emulator.log().length).toBe(before);
    expect(stepStates(f.state)).toEqual({ done: ITEMS });
    expect(readdirSync(join(f.dir, '.genbatch')).filter((n) => n.includes('.damaged-'))).toEqual([]);
  });
});

describe('the rolling backup of the state file', () => {
  it('is taken at the start of each run that makes calls; restoring it redoes only what came after', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 30 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const job = writeJob(dir, { items: ITEMS, steps: NOTE_STEP, limits: '{ concurrency: 2 }' });
    const state = join(dir, '.genbatch', 'quota-job.db');
    const backup = `${state}.bak`;
    expect((await runCli(['run', job, '--yes', '--limit', '4'])).code).toBe(0);
    expect((await runCli(['run', job, '--yes'])).code).toBe(0);
    // The backup holds the state as the second run started: 4 done (and maybe its first calls marked running).
    const saved = stepStates(backup);
    expect(saved.done).toBe(4);
    expect((saved.pending ?? 0) + (saved.running ?? 0)).toBe(ITEMS - 4);
    // Written beside the state as a temp file renamed into place: nothing of it is left.
    expect(readdirSync(join(dir, '.genbatch')).filter((n) => /^\..*\.tmp(-journal)?$/.test(n))).toEqual([]);

    // A run with nothing to do changes nothing worth copying: the backup is left as it is.
    const taken = statSync(backup).mtimeMs;
    expect((await runCli(['run', job, '--yes'])).stderr).toMatch(/Nothing to do/);
    expect(statSync(backup).mtimeMs).toBe(taken);

    // The state is lost; the hint's restore brings the job back to the backup, and only what came after is redone.
    replaceState(state, () => truncateSync(state, 0));
    const refused = await runCli(['run', job, '--yes']);
    expect(refused.code).toBe(2);
    renameSync(state, `${state}.damaged`);
    copyFileSync(backup, state);
    const before = emulator.log().length;
    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code).toBe(0);
    // Only what came after the backup is redone, and from the response cache: no call.
    expect(emulator.log().length - before).toBe(0);
    expect(stepStates(state)).toEqual({ done: ITEMS });
    expect(cachedSteps(state)).toBe(ITEMS - 4);
    expect(existsSync(`${state}.damaged`)).toBe(true);
  });
});
