import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordinationStore, type PacingRequest } from '../../src/store/coordination-store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
const open: CoordinationStore[] = [];
afterEach(() => {
  for (const store of open.splice(0)) store.close();
});

/** Two processes on one host: two connections to the same shared file. */
function twoProcesses(): [CoordinationStore, CoordinationStore] {
  const file = join(tempDir(), 'coordination.db');
  const a = CoordinationStore.open(file);
  const b = CoordinationStore.open(file);
  open.push(a, b);
  return [a, b];
}

const T = 1_700_000_000_000;
const KEY = 'http://127.0.0.1:1|proj|us-central1|gemini-2.5-flash';
const pacing = (extra: Partial<PacingRequest> = {}): PacingRequest => ({ gapMs: 100, sharedGapMs: 150, tokens: 0, staleMs: 10_000, ...extra });

describe('the shared file: pacing', () => {
  it('hands out starts one gap apart across processes; the gap widens while more than one process takes turns', () => {
    const [a, b] = twoProcesses();
    const starts = [a.takeTurn(KEY, 'A', pacing(), T), a.takeTurn(KEY, 'A', pacing(), T), b.takeTurn(KEY, 'B', pacing(), T), a.takeTurn(KEY, 'A', pacing(), T)];
    expect(starts.map((t) => (t.ok ? t.startAt - T : -1))).toEqual([0, 100, 200, 350]);
    // B's last turn was long ago: A is alone again, with the solo gap.
    b.takeTurn(KEY, 'B', pacing(), T + 1000);
    const later = T + 60_000;
    const turns = [a.takeTurn(KEY, 'A', pacing(), later), a.takeTurn(KEY, 'A', pacing(), later)];
    expect(turns.map((t) => (t.ok ? t.startAt - later : -1))).toEqual([0, 100]);
  });

  it('a start that left late pushes the next one back', () => {
    const [a] = twoProcesses();
    a.takeTurn(KEY, 'A', pacing(), T);
    a.pushNextTurn(KEY, T + 180);
    const next = a.takeTurn(KEY, 'A', pacing(), T);
    expect(next.ok && next.startAt).toBe(T + 180);
  });

  it('caps calls in flight over every process, and takes back the places of a process that stopped being seen', () => {
    const [a, b] = twoProcesses();
    a.touchHolder('A', 1, 'h', T);
    b.touchHolder('B', 2, 'h', T);
    const request = pacing({ gapMs: 0, sharedGapMs: 0, concurrency: 2 });
    const first = a.takeTurn(KEY, 'A', request, T);
    expect(first.ok).toBe(true);
    expect(b.takeTurn(KEY, 'B', request, T).ok).toBe(true);
    expect(b.takeTurn(KEY, 'B', request, T)).toMatchObject({ ok: false, why: 'concurrency' });
    expect(a.turnReady(KEY, request, T)).toBe(false);
    if (first.ok) a.endTurn(KEY, first.leaseId, first.tokensWindow, 0);
    expect(b.takeTurn(KEY, 'B', request, T).ok).toBe(true);
    // B is killed with two calls in flight: once it has not been seen for staleMs, A gets their places.
    a.touchHolder('A', 1, 'h', T + 20_000);
    expect(a.takeTurn(KEY, 'A', request, T + 20_000).ok).toBe(true);
    expect(a.takeTurn(KEY, 'A', request, T + 20_000).ok).toBe(true);
    expect(a.takeTurn(KEY, 'A', request, T + 20_000).ok).toBe(false);
  });

  it('shares the tokens of the minute (tpm), corrected by what calls really used', () => {
    const [a, b] = twoProcesses();
    const request = (tokens: number): PacingRequest => pacing({ gapMs: 0, sharedGapMs: 0, tpm: 1000, tokens });
    const first = a.takeTurn(KEY, 'A', request(600), T);
    expect(b.takeTurn(KEY, 'B', request(600), T + 1)).toEqual({ ok: false, retryAt: T + 60_000, why: 'tokens' });
    // The first call used 100 tokens, not 600: room for the second.
    if (first.ok) a.endTurn(KEY, first.leaseId, first.tokensWindow, 100 - first.tokens);
    expect(b.takeTurn(KEY, 'B', request(600), T + 2).ok).toBe(true);
    // A new minute starts afresh.
    expect(b.takeTurn(KEY, 'B', request(1000), T + 60_000).ok).toBe(true);
  });
});

describe('the shared file: cooldowns and daily counts', () => {
  it('keeps the longer of two cooldowns, clears one only for a call started after it, and moves its version at each change', () => {
    const [a, b] = twoProcesses();
    const v0 = b.cooldownsVersion();
    expect(a.setCooldown({ key: KEY, model: 'm', until: T + 30_000, reason: '429', perDay: false, at: T, by: 'A' })).toBe(true);
    expect(a.setCooldown({ key: KEY, model: 'm', until: T + 10_000, reason: '429', perDay: false, at: T + 1, by: 'B' })).toBe(false);
    expect(b.cooldownsVersion()).toBe(v0 + 1);
    expect(b.cooldowns()).toEqual([expect.objectContaining({ key: KEY, until: T + 30_000, by: 'A', clearedAt: undefined })]);
    expect(b.clearCooldown(KEY, T - 5, T + 31_000)).toBe(false);
    expect(b.clearCooldown(KEY, T + 30_500, T + 31_000)).toBe(true);
    expect(a.cooldowns()[0]?.clearedAt).toBe(T + 31_000);
    expect(a.cooldownsVersion()).toBe(v0 + 2);
  });

  it('counts requests of the day across processes up to rpd, from what the ledger already knows', () => {
    const [a, b] = twoProcesses();
    expect(a.countRequest(KEY, 'day-1', 3, 1)).toEqual({ ok: true, count: 2 });
    expect(b.countRequest(KEY, 'day-1', 3, 0)).toEqual({ ok: true, count: 3 });
    expect(a.countRequest(KEY, 'day-1', 3, 0)).toEqual({ ok: false, count: 3 });
    expect(b.requestsToday(KEY, 'day-1')).toBe(3);
    expect(b.countRequest(KEY, 'day-2', 3, 0)).toEqual({ ok: true, count: 1 });
  });
});

describe('the shared file: budgets', () => {
  it('never lets two processes both take the last dollars; settles book spend per job and project; the alert is claimed once', () => {
    const [a, b] = twoProcesses();
    const cap = 1_000;
    const first = a.reserveBudget('s', 'd', cap, 600, 'A', 'job-a', false);
    expect(first).toMatchObject({ ok: true, spentNano: 0, heldNano: 600 });
    expect(b.reserveBudget('s', 'd', cap, 600, 'B', 'job-b', false)).toMatchObject({ ok: false, spentNano: 0, heldNano: 600 });
    expect(a.settleBudget(first.holdId ?? -1, 's', 'd', 'job-a', 'proj-1', 250)).toEqual({ spentNano: 250, heldNano: 0 });
    const second = b.reserveBudget('s', 'd', cap, 600, 'B', 'job-b', false);
    expect(second.ok).toBe(true);
    // A call already under way (force) is held even past the cap.
    expect(a.reserveBudget('s', 'd', cap, 600, 'A', 'job-a', true).ok).toBe(true);
    b.settleBudget(second.holdId ?? -1, 's', 'd', 'job-b', 'proj-2', 400);
    b.recordSpend('s', 'd', 'job-c', [{ project: 'proj-1', nano: 5, calls: 2 }]);
    expect(a.budgetDay('s', 'd')).toEqual({
      spentNano: 655,
      heldNano: 600,
      rows: [
        { job: 'job-a', project: 'proj-1', nano: 250, calls: 1 },
        { job: 'job-b', project: 'proj-2', nano: 400, calls: 1 },
        { job: 'job-c', project: 'proj-1', nano: 5, calls: 2 },
      ],
    });
    expect(a.claimAlert('s', 'd', T)).toBe(true);
    expect(b.claimAlert('s', 'd', T)).toBe(false);
    expect(b.claimAlert('s', 'd2', T)).toBe(true);
  });

  it('a hold released without a call (no project: the run stopped while the call waited for a project) frees its room and books no spend row', () => {
    const [a] = twoProcesses();
    const held = a.reserveBudget('s', 'd', 1_000, 600, 'A', 'job-a', false);
    expect(a.settleBudget(held.holdId ?? -1, 's', 'd', 'job-a', undefined, 0)).toEqual({ spentNano: 0, heldNano: 0 });
    expect(a.budgetDay('s', 'd')).toEqual({ spentNano: 0, heldNano: 0, rows: [] });
  });

  it('starts a file of another layout afresh', () => {
    const file = join(tempDir(), 'coordination.db');
    const old = new Database(file);
    old.exec('CREATE TABLE pacing (key TEXT PRIMARY KEY, next_at INTEGER)');
    old.close();
    const store = CoordinationStore.open(file);
    open.push(store);
    expect(store.takeTurn(KEY, 'A', pacing(), T).ok).toBe(true);
  });
});
