import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { rejectedItemIds, rejectItems } from '../../src/library/rejections.js';
import { StateStore } from '../../src/store/state-store.js';
import { REPO } from '../helpers/cli.js';
import { readStateFile } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
const STEPS = ['brief', 'hero'];
const JOB = { steps: STEPS.map((name) => ({ name })) } as Parameters<typeof rejectItems>[0];

/** a: brief done, hero failed; b and c: both steps done. */
function store(): StateStore {
  const s = StateStore.open(join(tempDir(), 'state.db'));
  s.upsertItems(
    ['a', 'b', 'c'].map((id, ord) => ({ id, ord, line: ord + 2, values: { id }, inputHash: id })),
    STEPS,
    'run',
  );
  const done = { result: {}, outputs: [], promptHash: 'p', costUsd: 0 };
  for (const id of ['a', 'b', 'c']) s.completeStep(id, 'brief', done);
  s.finishStep('a', 'hero', 'failed', { code: 'BAD_RESPONSE', message: 'm' });
  s.completeStep('b', 'hero', done);
  s.completeStep('c', 'hero', done);
  return s;
}

function rows(s: StateStore): Record<string, string> {
  const all = readStateFile(s.file, (db) =>
    db.prepare('SELECT item_id, step, state, rejected_at IS NOT NULL AS r FROM item_steps ORDER BY item_id, step').all(),
  ) as {
    item_id: string;
    step: string;
    state: string;
    r: number;
  }[];
  return Object.fromEntries(all.map((x) => [`${x.item_id}.${x.step}`, `${x.state}${x.r ? '*' : ''}`]));
}

describe('rejections in the state file', () => {
  it('marks only done steps, and retry --rejected resets them and every later step in one statement', () => {
    const s = store();
    try {
      expect(rejectItems(JOB, s, ['a'], { note: ' blurry ' })).toEqual({ items: 1, steps: 1, stepNames: STEPS });
      expect(rejectItems(JOB, s, ['b', 'b'], { step: 'hero' })).toEqual({ items: 1, steps: 1, stepNames: ['hero'] });
      expect(rows(s)).toEqual({ 'a.brief': 'done*', 'a.hero': 'failed', 'b.brief': 'done', 'b.hero': 'done*', 'c.brief': 'done', 'c.hero': 'done' });
      expect(rejectedItemIds(s)).toEqual(['a', 'b']);
      expect(s.rejectedSteps()).toEqual([
        { itemId: 'a', step: 'brief', note: 'blurry', at: expect.any(String) },
        { itemId: 'b', step: 'hero', note: null, at: expect.any(String) },
      ]);

      // a's failed hero comes back too (a failed later step would otherwise block the item).
      expect(s.retryRejected(STEPS)).toBe(3);
      expect(rows(s)).toEqual({ 'a.brief': 'pending', 'a.hero': 'pending', 'b.brief': 'done', 'b.hero': 'pending', 'c.brief': 'done', 'c.hero': 'done' });
      expect(rejectedItemIds(s)).toEqual([]);
      expect(s.pendingItems(-1, 10).map((i) => i.id)).toEqual(['a', 'b']);
    } finally {
      s.close();
    }
  });

  it('drops a rejection whenever the step changes state, and on request', () => {
    const s = store();
    try {
      s.rejectSteps(['b', 'c'], STEPS, 'n');
      s.resetSteps(['b'], ['hero'], ['done']);
      s.markRunning('b', 'hero', 'run-2', 'proj');
      expect(rows(s)).toMatchObject({ 'b.brief': 'done*', 'b.hero': 'running', 'c.hero': 'done*' });
      s.completeStep('b', 'hero', { result: {}, outputs: [], promptHash: 'p2', costUsd: 0 }, undefined, 'run-2');
      expect(rows(s)['b.hero']).toBe('done');
      expect(s.clearRejection(['c'])).toBe(2);
      expect(s.clearRejection()).toBe(1);
      expect(rejectedItemIds(s)).toEqual([]);
    } finally {
      s.close();
    }
  });

  it('upgrades a version 1 state file in place, keeping its data', () => {
    const file = join(tempDir(), 'v1.db');
    const db = new Database(file);
    db.exec(readFileSync(join(REPO, 'src', 'store', 'migrations', '001-initial.sql'), 'utf8'));
    db.pragma('user_version = 1');
    db.prepare("INSERT INTO items (id, ord, row_json, input_hash) VALUES ('x', 0, '{}', 'h')").run();
    db.prepare("INSERT INTO item_steps (item_id, step, state) VALUES ('x', 'brief', 'done')").run();
    db.close();
    const s = StateStore.open(file);
    try {
      expect(readStateFile(file, (db) => db.pragma('user_version', { simple: true }))).toBeGreaterThanOrEqual(2);
      expect(s.rejectSteps(['x'], ['brief'], 'n')).toBe(1);
      expect(rejectedItemIds(s)).toEqual(['x']);
    } finally {
      s.close();
    }
  });
});
