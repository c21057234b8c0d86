import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCoordinator } from '../../src/coordination/local-coordinator.js';
import { windowKey } from '../../src/coordination/quota-key.js';
import { SharedCapacityWindow } from '../../src/coordination/shared-capacity-window.js';
import { admitCall, newWindowState, type WindowTicket } from '../../src/resilience/adaptive-window.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
const open: LocalCoordinator[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

const KEY = windowKey({ location: 'us-central1' }, 'gemini-2.5-flash');
/** The windows' clock: real time moved on by `skew` (a call "15 s old" without waiting 15 s). */
const clock = { skew: 0 };
const now = () => Date.now() + clock.skew;

/** A run on this host: its own coordinator on the shared file, and its view of the model's window. */
function run(file: string): { coordinator: LocalCoordinator; window: SharedCapacityWindow; ended: { count: number } } {
  const coordinator = new LocalCoordinator(file);
  open.push(coordinator);
  const ended = { count: 0 };
  return { coordinator, window: new SharedCapacityWindow(coordinator, KEY, now, () => (ended.count += 1)), ended };
}

async function fill(window: SharedCapacityWindow, most = 100): Promise<WindowTicket[]> {
  const tickets: WindowTicket[] = [];
  for (let i = 0; i < most; i++) {
    const ticket = await window.acquire();
    if (!ticket) break;
    tickets.push(ticket);
  }
  return tickets;
}

/** Lets the window writes of ended tickets finish (they are not awaited by the caller). */
const written = () => new Promise((resolve) => setImmediate(resolve));

describe('a shared-capacity window shared by the runs of one host', () => {
  it('two runs take places in one window: what one holds, the other cannot take', async () => {
    clock.skew = 0;
    const file = join(tempDir(), 'shared.db');
    const a = run(file);
    const b = run(file);
    const held = await fill(a.window, 3);
    expect(held).toHaveLength(3);
    // The window starts at 4 calls in flight for the model and location, whichever run asks.
    const other = await fill(b.window);
    expect(other).toHaveLength(1);
    expect(b.window.hasRoom()).toBe(false);
    expect(a.window.snapshot()).toMatchObject({ limit: 4, inFlight: 4 });
    held[0]?.end('success');
    await written();
    expect(a.ended.count).toBe(1);
    expect(b.window.hasRoom()).toBe(true);
    // A success of a full window grows the window for both (slow start: +1).
    expect(b.window.snapshot()).toMatchObject({ limit: 5, inFlight: 3, successes: 1 });
  });

  it("one run's refusal shrinks the window the other run sees, and counts in the share of 429s", async () => {
    clock.skew = 0;
    const file = join(tempDir(), 'shared.db');
    const a = run(file);
    const b = run(file);
    const fromA = await fill(a.window, 2);
    const fromB = await fill(b.window, 2);
    fromB[0]?.end('refused');
    await written();
    // 4 in flight when it was refused: the window is cut to 0.85 of that.
    expect(a.window.snapshot()).toMatchObject({ limit: 3, inFlight: 3, refusals: 1 });
    for (const t of [...fromA, ...fromB.slice(1)]) t.end('success');
    await written();
    expect(a.window.snapshot()).toMatchObject({ inFlight: 0, successes: 3, refusals: 1, refusedShare: 0.25 });
  });

  it('a burst of calls ending in one turn is written in one change (or with the next place taken), and a turn reads the shared file once', async () => {
    clock.skew = 0;
    const file = join(tempDir(), 'shared.db');
    const a = run(file);
    const b = run(file);
    const changes = { count: 0 };
    const peeks = { count: 0 };
    const { change, peek } = a.coordinator.windows;
    Object.assign(a.coordinator.windows, {
      change: (...args: Parameters<typeof change>) => ((changes.count += 1), change(...args)),
      peek: (key: string) => ((peeks.count += 1), peek(key)),
    });
    const held = await fill(a.window, 4);
    expect(changes.count).toBe(4);
    for (const t of held) t.end('success');
    await written();
    expect(changes.count).toBe(5);
    expect(a.ended.count).toBe(1);
    // Every run sees the four ends (slow start: the window grew by one per full-window success).
    expect(b.window.snapshot()).toMatchObject({ inFlight: 0, successes: 4 });
    // Ended, then a place taken in the same turn: one change for both.
    const [first] = await fill(a.window, 1);
    first?.end('success');
    const [second] = await fill(a.window, 1);
    expect(changes.count).toBe(7);
    // Another run's view is read afresh at its next turn.
    await written();
    expect(changes.count).toBe(7);
    expect(b.window.snapshot()).toMatchObject({ inFlight: 1, successes: 5 });
    second?.end('none');
    await written();
    // Asked again and again in one turn, the window reads the shared file once.
    peeks.count = 0;
    for (let i = 0; i < 5; i++) a.window.hasRoom();
    a.window.snapshot();
    expect(peeks.count).toBe(1);
    await written();
    a.window.hasRoom();
    expect(peeks.count).toBe(2);
  });

  it('the places of a run that died are freed once it is seen gone', async () => {
    clock.skew = 0;
    const file = join(tempDir(), 'shared.db');
    const a = run(file);
    const dead = run(file);
    expect(await fill(dead.window, 3)).toHaveLength(3);
    // The process ends without ending its calls (killed mid-call): it no longer says it is alive.
    await dead.coordinator.close();
    expect(a.window.snapshot().inFlight).toBe(3);
    expect(await fill(a.window)).toHaveLength(1);
    // 15 s later its calls are taken for lost; this run's own call still holds its place.
    clock.skew = 16_000;
    expect(a.window.snapshot()).toMatchObject({ limit: 4, inFlight: 1 });
    expect(await fill(a.window)).toHaveLength(3);
  });

  it('the places of a run killed on this host are freed at once (its pid is gone): a resume right after kill -9 does not wait', async () => {
    clock.skew = 0;
    const file = join(tempDir(), 'shared.db');
    const a = run(file);
    // A process that ran and is gone, as a run killed with kill -9 mid-call leaves its calls in flight.
    const { pid } = spawnSync(process.execPath, ['-e', '0']);
    const killed = `${hostname()}:${pid}:deadbeef`;
    await a.coordinator.windows.change(KEY, () => {
      const state = newWindowState(now());
      for (let i = 0; i < 4; i++) admitCall(state, killed, now());
      return { state: JSON.stringify(state), result: undefined };
    });
    expect(a.window.snapshot()).toMatchObject({ limit: 4, inFlight: 0 });
    expect(await fill(a.window)).toHaveLength(4);
  });
});
