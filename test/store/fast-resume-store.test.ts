import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FIRST_ITEM, StateStore, type ItemCursor, type ItemRow, type LedgerEntry } from '../../src/store/state-store.js';
import { LATEST_SCHEMA_VERSION } from '../../src/store/migrate.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

function items(n: number, hash = (i: number) => `h${i}`): ItemRow[] {
  return Array.from({ length: n }, (_, i) => ({ id: `item-${i}`, ord: i, line: i + 2, values: { slug: `item-${i}` }, inputHash: hash(i) }));
}

const call = (itemId: string, step: string, costUsd: number, outputTokens = 10): LedgerEntry => ({
  runId: 'r1',
  itemId,
  step,
  project: 'p1',
  model: 'gemini-2.5-flash',
  httpStatus: 200,
  inputTokens: 5,
  outputTokens,
  thoughtsTokens: 0,
  images: 0,
  videoSeconds: 0,
  characters: 0,
  costUsd,
  durationMs: 7,
});

/** pendingItems and pendingItemCount as the state defines them, judged item by item from the step rows. */
function reference(store: StateStore, ids: readonly string[]): { open: string[]; pending: string[] } {
  const open: string[] = [];
  const pending: string[] = [];
  for (const id of ids) {
    const states = store.itemSteps(id).map((s) => s.state);
    if (states.length === 0) continue;
    const blocked = states.some((s) => s === 'failed' || s === 'filtered');
    if (!blocked && states.some((s) => s === 'pending' || s === 'running')) open.push(id);
    if (!blocked && states.includes('pending') && !states.includes('running')) pending.push(id);
  }
  return { open, pending };
}

function pages<T extends { cursor: ItemCursor }>(read: (after: ItemCursor) => T[], size: number): T[] {
  const all: T[] = [];
  let cursor = FIRST_ITEM;
  for (;;) {
    const page = read(cursor);
    all.push(...page);
    const last = page.at(-1);
    if (!last || page.length < size) return all;
    cursor = last.cursor;
  }
}

describe('fast resume: what the store keeps so that a resume visits only what is left', () => {
  it('keeps the open flag behind pendingItems and pendingItemCount right through every kind of step change', () => {
    const store = StateStore.open(join(tempDir(), 'job.db'));
    const ids = items(8).map((i) => i.id);
    const check = (): void => {
      const expected = reference(store, ids);
      expect(store.pendingItemCount()).toBe(expected.open.length);
      expect(store.pendingItems(-1, 100).map((i) => i.id)).toEqual(expected.pending);
    };
    store.upsertItems(items(8), ['a', 'b'], 'r1');
    check();
    store.markRunning('item-0', 'a', 'r1', 'p1');
    check();
    store.completeStep('item-0', 'a', { result: {}, outputs: [], promptHash: 'x', costUsd: 0 }, undefined, 'r1');
    store.completeStep('item-0', 'b', { result: {}, outputs: [], promptHash: 'y', costUsd: 0 });
    check(); // every step done: no longer open
    store.markRunning('item-1', 'a', 'r1', 'p1');
    store.finishStep('item-1', 'a', 'failed', { code: 'X', message: 'no' }, undefined, 'r1');
    check(); // a failed link blocks the chain
    store.finishStep('item-2', 'a', 'filtered', { code: 'SAFETY', message: 'blocked' });
    check();
    store.markRunning('item-3', 'a', 'r2', 'p1');
    check(); // running in another run: open, but not handed out again
    expect(store.recoverAbandoned('r1')).toBe(1);
    check();
    store.resetSteps(['item-1'], ['a', 'b'], ['failed']);
    check(); // retried: open again
    // The job gains a step: done items have work again, blocked ones stay blocked.
    store.upsertItems(items(8), ['a', 'b', 'c'], 'r3');
    check();
    expect(store.pendingItems(-1, 100).map((i) => i.id)).toContain('item-0');
    expect(store.pendingItems(-1, 100).map((i) => i.id)).not.toContain('item-2');
    // An item no longer in the input and never finished is dropped.
    store.upsertItems(items(7), ['a', 'b', 'c'], 'r4');
    store.retireUnseenItems('r4');
    check();
    expect(store.pendingItems(-1, 100).map((i) => i.id)).not.toContain('item-7');
    store.close();
  });

  it('migrates a version 2 state file: the open flags are computed from the steps, nothing is flagged for a recheck', () => {
    const file = join(tempDir(), 'old.db');
    const raw = new Database(file);
    for (const name of ['001-initial.sql', '002-review.sql']) raw.exec(readFileSync(new URL(`../../src/store/migrations/${name}`, import.meta.url), 'utf8'));
    raw.pragma('user_version = 2');
    const addItem = raw.prepare("INSERT INTO items (id, ord, line, row_json, input_hash) VALUES (?, ?, ?, '{}', 'h')");
    const addStep = raw.prepare('INSERT INTO item_steps (item_id, step, state, prompt_hash) VALUES (?, ?, ?, ?)');
    const states: [string, string][] = [
      ['done', 'done'],
      ['done', 'pending'],
      ['failed', 'pending'],
      ['running', 'pending'],
      ['pending', 'pending'],
    ];
    states.forEach(([a, b], i) => {
      addItem.run(`old-${i}`, i, i + 2);
      addStep.run(`old-${i}`, 'a', a, a === 'done' ? 'hash' : null);
      addStep.run(`old-${i}`, 'b', b, b === 'done' ? 'hash' : null);
    });
    raw.close();

    const store = StateStore.open(file);
    expect(store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    expect(store.pendingItemCount()).toBe(3);
    expect(store.pendingItems(-1, 10).map((i) => i.id)).toEqual(['old-1', 'old-4']);
    expect(store.staleCandidates(FIRST_ITEM, 10, false)).toEqual([]);
    expect(store.staleCandidates(FIRST_ITEM, 10, true).map((i) => i.id)).toEqual(['old-0', 'old-1']);
    store.close();
  });

  it('flags an item for a staleness recheck only when a sync brings a different row for it', () => {
    const store = StateStore.open(join(tempDir(), 'job.db'));
    store.upsertItems(items(5), ['a'], 'r1');
    expect(store.staleCandidates(FIRST_ITEM, 10, false)).toEqual([]);
    store.upsertItems(
      items(5, (i) => (i === 3 ? 'changed' : `h${i}`)),
      ['a'],
      'r2',
    );
    expect(store.staleCandidates(FIRST_ITEM, 10, false).map((i) => i.id)).toEqual(['item-3']);
    store.setRecheck(['item-3'], false);
    expect(store.staleCandidates(FIRST_ITEM, 10, false)).toEqual([]);
    expect(store.itemBases(['item-3', 'nope']).get('item-3')).toEqual({ inputHash: 'changed', recheck: false, hashed: false });
    expect(store.itemBases(['item-3', 'nope']).has('nope')).toBe(false);
    store.close();
  });

  it('pages items, results and stale candidates in input order, items that share an ord included', () => {
    const store = StateStore.open(join(tempDir(), 'job.db'));
    store.upsertItems(items(9), ['a'], 'r1');
    for (const id of ['item-2', 'item-5']) store.completeStep(id, 'a', { result: { vector: [1] }, outputs: [], promptHash: 'x', costUsd: 0 });
    // item-2 leaves the input (kept: it is done); the others move up, so item-3 now has ord 2 as well.
    store.upsertItems(
      items(9)
        .filter((i) => i.id !== 'item-2')
        .map((item, ord) => ({ ...item, ord })),
      ['a'],
      'r2',
    );
    store.retireUnseenItems('r2');
    // Pages of 3 end between the two items with ord 2: a cursor on ord alone would lose one.
    const order = pages((after) => store.itemsWithSteps(after, 3), 3).map((i) => i.id);
    expect(order).toHaveLength(9);
    expect(new Set(order).size).toBe(9);
    expect(order.slice(0, 2)).toEqual(['item-0', 'item-1']);
    expect(order.slice(2, 4).sort()).toEqual(['item-2', 'item-3']);
    expect(pages((after) => store.steps.doneResults('a', after, 1), 1).map((r) => r.itemId)).toEqual(['item-2', 'item-5']);
    expect(pages((after) => store.staleCandidates(after, 1, true), 1).map((r) => r.id)).toEqual(['item-2', 'item-5']);
    store.close();
  });

  it('counts item states and measures finished items in SQL, as the per-item computation did', () => {
    const store = StateStore.open(join(tempDir(), 'job.db'));
    store.upsertItems(items(6), ['a', 'b'], 'r1');
    const done = (id: string, step: string, usd: number): void =>
      store.completeStep(id, step, { result: {}, outputs: [], promptHash: 'x', costUsd: usd }, call(id, step, usd, usd * 1000));
    done('item-0', 'a', 0.01);
    done('item-0', 'b', 0.02);
    done('item-1', 'a', 0.03);
    store.recordCall(call('item-1', 'a', 0.005)); // an earlier attempt of the same item counts towards it
    done('item-2', 'a', 0.05);
    store.finishStep('item-2', 'b', 'failed', { code: 'X', message: 'no' });
    store.finishStep('item-3', 'a', 'filtered', { code: 'SAFETY', message: 'blocked' });
    store.markRunning('item-4', 'a', 'r1', 'p1');
    const byState = Object.fromEntries(store.steps.itemStateCounts().map((r) => [r.state, r.n]));
    expect(byState).toEqual({ done: 1, failed: 1, filtered: 1, running: 1, pending: 2 });
    expect(store.steps.unfinishedItemCount()).toBe(4);

    const stats = store.ledger.finishedItemCostStats('a');
    const perItem = [0.01, 0.035, 0.05]; // item-3 was filtered without a call
    const mean = perItem.reduce((x, y) => x + y, 0) / perItem.length;
    const sd = Math.sqrt(perItem.reduce((x, y) => x + (y - mean) ** 2, 0) / (perItem.length - 1));
    expect(stats.items).toBe(3);
    expect(stats.meanUsd).toBeCloseTo(mean, 12);
    expect(stats.sdUsd).toBeCloseTo(sd, 12);
    expect(stats.meanDurationMs).toBe(7);
    // Only the newest calls are measured when asked: here the last two ledger rows of step a.
    expect(store.ledger.finishedItemCostStats('a', 2).items).toBe(2);
    store.close();
  });

  it('counts items by state from the flags and partial indexes exactly as grouping every step row does', () => {
    const file = join(tempDir(), 'job.db');
    const store = StateStore.open(file);
    const steps = ['a', 'b', 'c'];
    store.upsertItems(items(300), steps, 'r1');
    let seed = 11;
    // mulberry32: a seeded generator whose low digits are as random as the rest
    const next = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    for (let i = 0; i < 300; i++) {
      const id = `item-${i}`;
      for (const step of steps) {
        const roll = next(10);
        if (roll < 4) store.completeStep(id, step, { result: {}, outputs: [], promptHash: 'x', costUsd: 0 });
        else if (roll === 4) store.finishStep(id, step, 'failed', { code: 'X', message: 'no' });
        else if (roll === 5) store.finishStep(id, step, 'filtered', { code: 'S', message: 'no' });
        else if (roll === 6) store.markRunning(id, step, 'r1', 'p1');
      }
    }
    store.resetSteps(['item-1', 'item-2', 'item-3'], steps, ['failed', 'filtered', 'done']);
    const grouped = new Database(file, { readonly: true })
      .prepare(
        `SELECT state, count(*) AS n FROM (SELECT CASE WHEN sum(state = 'failed') > 0 THEN 'failed' WHEN sum(state = 'filtered') > 0 THEN 'filtered'
           WHEN sum(state = 'running') > 0 THEN 'running' WHEN sum(state = 'done') = count(*) THEN 'done' ELSE 'pending' END AS state
         FROM item_steps GROUP BY item_id) GROUP BY state`,
      )
      .all() as { state: string; n: number }[];
    const fast = Object.fromEntries(store.steps.itemStateCounts().map((r) => [r.state, r.n]));
    expect(fast).toEqual(Object.fromEntries(grouped.map((r) => [r.state, r.n])));
    expect(Object.keys(fast).sort()).toEqual(['done', 'failed', 'filtered', 'pending', 'running']);
    store.close();
  });

  it('samples the items left to do: all of them when few, else a spread in input order', () => {
    const store = StateStore.open(join(tempDir(), 'job.db'));
    store.upsertItems(items(50), ['a'], 'r1');
    for (let i = 0; i < 10; i++) store.completeStep(`item-${i}`, 'a', { result: {}, outputs: [], promptHash: 'x', costUsd: 0 });
    expect(store.sampleUnfinishedItems(100).map((i) => i.id)).toEqual(
      items(50)
        .slice(10)
        .map((i) => i.id),
    );
    const sample = store.sampleUnfinishedItems(8).map((i) => Number(i.id.slice(5)));
    expect(sample.length).toBeGreaterThanOrEqual(4);
    expect(sample.length).toBeLessThanOrEqual(8);
    expect(sample.every((n) => n >= 10)).toBe(true);
    expect(sample).toEqual([...sample].sort((x, y) => x - y));
    expect(Math.max(...sample) - Math.min(...sample)).toBeGreaterThan(20); // spread, not the first few
    store.close();
  });
});
