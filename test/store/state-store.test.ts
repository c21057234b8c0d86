import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { LATEST_SCHEMA_VERSION } from '../../src/store/migrate.js';
import { StateStore } from '../../src/store/state-store.js';
import { readStateFile } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

function items(n: number): { id: string; ord: number; line: number; values: Record<string, string>; inputHash: string }[] {
  return Array.from({ length: n }, (_, i) => ({ id: `item-${i}`, ord: i, line: i + 2, values: { slug: `item-${i}` }, inputHash: `h${i}` }));
}

const ledger = (runId: string, itemId: string) => ({
  runId,
  itemId,
  step: 'a',
  project: 'p1',
  model: 'gemini-2.5-flash',
  httpStatus: 200,
  inputTokens: 10,
  outputTokens: 20,
  thoughtsTokens: 0,
  images: 0,
  videoSeconds: 0,
  characters: 0,
  costUsd: 0.01,
  durationMs: 5,
});

describe('StateStore', () => {
  it('creates a WAL database at the latest schema version', () => {
    const file = join(tempDir(), 'nested', 'job.db');
    const store = StateStore.open(file);
    expect(store.isOpen).toBe(true);
    expect(readStateFile(file, (db) => db.pragma('journal_mode', { simple: true }))).toBe('wal');
    expect(readStateFile(file, (db) => db.pragma('user_version', { simple: true }))).toBe(LATEST_SCHEMA_VERSION);
    store.close();
    expect(store.isOpen).toBe(false);
  });

  it('refuses a state file written by a newer genbatch, saying what to do', () => {
    const file = join(tempDir(), 'job.db');
    const raw = new Database(file);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => StateStore.open(file)).toThrow(/schema version \d+, but this genbatch understands up to \d+/);
    try {
      StateStore.open(file);
    } catch (error) {
      expect((error as { hint: string }).hint).toMatch(/upgrade genbatch/);
      expect((error as { exitCode: number }).exitCode).toBe(2);
    }
  });

  it('walks a step through pending → running → done with its ledger row in one transaction', () => {
    const store = StateStore.open(join(tempDir(), 'job.db'));
    store.startRun({ id: 'r1', pid: 1, host: 'h', options: {} });
    store.upsertItems(items(3), ['a', 'b'], 'r1');
    expect(store.pendingItems(-1, 10).map((i) => i.id)).toEqual(['item-0', 'item-1', 'item-2']);
    store.markRunning('item-0', 'a', 'r1', 'p1');
    expect(store.pendingItems(-1, 10).map((i) => i.id)).toEqual(['item-1', 'item-2']);
    store.completeStep('item-0', 'a', { result: { text: 'hi' }, outputs: ['x.txt'], promptHash: 'ph', costUsd: 0.01 }, ledger('r1', 'item-0'));
    const steps = store.itemSteps('item-0');
    expect(steps.find((s) => s.step === 'a')).toMatchObject({ state: 'done', attempts: 1, outputs: ['x.txt'], result: { text: 'hi' }, costUsd: 0.01 });
    expect(store.ledger.totals()).toEqual({ costUsd: 0.01, requests: 1, unsettledCalls: 0, unsettledMaxUsd: 0 });
    expect(readStateFile(store.file, (db) => db.prepare('SELECT count(*) AS n FROM ledger').get())).toEqual({ n: 1 });
    // item-0 still has step b pending
    expect(store.pendingItems(-1, 10).map((i) => i.id)).toContain('item-0');
    store.close();
  });

  it('guards every transition: a step another run holds, or one already done, is never overwritten, and a paid call stays in the ledger', () => {
    const store = StateStore.open(join(tempDir(), 'job.db'));
    store.upsertItems(items(2), ['a'], 'r1');
    store.markRunning('item-0', 'a', 'r1', 'p1');
    // A second run cannot take a step that is running, nor finish one it does not hold.
    expect(() => store.markRunning('item-0', 'a', 'r2', 'p1')).toThrow(expect.objectContaining({ code: 'STATE_CONFLICT' }));
    expect(() => store.completeStep('item-0', 'a', { result: {}, outputs: [], promptHash: 'p', costUsd: 0.02 }, ledger('r2', 'item-0'), 'r2')).toThrow(
      /State conflict: step "a" of item "item-0"/,
    );
    expect(store.ledger.totals()).toEqual({ costUsd: 0.01, requests: 1, unsettledCalls: 0, unsettledMaxUsd: 0 }); // the paid call is recorded all the same
    expect(() => store.markPending('item-0', 'a', { countAttempt: true, runId: 'r2' })).toThrow(expect.objectContaining({ code: 'STATE_CONFLICT' }));
    expect(() => store.setOperationName('item-0', 'a', 'operations/x', 'r2')).toThrow(expect.objectContaining({ code: 'STATE_CONFLICT' }));
    expect(store.itemSteps('item-0')[0]).toMatchObject({ state: 'running', runId: 'r1', operationName: null });
    // The holder finishes it; after that nothing moves it back but an explicit reset.
    store.completeStep('item-0', 'a', { result: { text: 'ok' }, outputs: [], promptHash: 'p', costUsd: 0.01 }, undefined, 'r1');
    expect(() => store.markRunning('item-0', 'a', 'r1', 'p1')).toThrow(expect.objectContaining({ code: 'STATE_CONFLICT' }));
    expect(() => store.finishStep('item-0', 'a', 'failed', { code: 'X', message: 'm' }, undefined, 'r1')).toThrow(
      expect.objectContaining({ code: 'STATE_CONFLICT' }),
    );
    expect(store.itemSteps('item-0')[0]).toMatchObject({ state: 'done', result: { text: 'ok' } });
    // A step that could not be rendered fails straight from pending.
    store.finishStep('item-1', 'a', 'failed', { code: 'TEMPLATE_VALUE_MISSING', message: 'm' }, undefined, 'r1');
    expect(store.itemSteps('item-1')[0]?.state).toBe('failed');
    store.close();
  });

  it('puts running rows of a dead run back to pending, and only those', () => {
    const store = StateStore.open(join(tempDir(), 'job.db'));
    store.upsertItems(items(2), ['a'], 'r1');
    store.markRunning('item-0', 'a', 'dead-run', 'p1');
    store.markRunning('item-1', 'a', 'r2', 'p1');
    expect(store.recoverAbandoned('r2')).toBe(1);
    expect(store.itemSteps('item-0')[0]?.state).toBe('pending');
    expect(store.itemSteps('item-1')[0]?.state).toBe('running');
    store.close();
  });

  it('a failed step stops its item until retried; retry resets from a step on', () => {
    const store = StateStore.open(join(tempDir(), 'job.db'));
    store.upsertItems(items(2), ['a', 'b'], 'r1');
    store.finishStep('item-0', 'a', 'failed', { code: 'INVALID_REQUEST', message: 'bad model' });
    expect(store.pendingItems(-1, 10).map((i) => i.id)).toEqual(['item-1']);
    expect(store.resetSteps('all', ['a', 'b'], ['failed'])).toBe(1);
    expect(store.pendingItems(-1, 10).map((i) => i.id)).toEqual(['item-0', 'item-1']);
    store.close();
  });

  it('drops unfinished items that left the input but keeps paid-for ones', () => {
    const store = StateStore.open(join(tempDir(), 'job.db'));
    store.upsertItems(items(3), ['a'], 'r1');
    store.completeStep('item-2', 'a', { result: {}, outputs: [], promptHash: 'p', costUsd: 0 });
    store.upsertItems(items(1), ['a'], 'r2');
    expect(store.retireUnseenItems('r2')).toBe(1);
    expect(store.itemCount()).toBe(2);
    store.close();
  });
});
