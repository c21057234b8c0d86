import { describe, expect, it } from 'vitest';
import { AdaptiveWindow, type WindowTicket } from '../../src/resilience/adaptive-window.js';

/** A window on an injected clock (nothing here sleeps: time does not even need to move). */
function setup(options: { initial?: number; max?: number } = {}) {
  const clock = { t: 1_700_000_000_000 };
  return { clock, window: new AdaptiveWindow({ now: () => clock.t, ...options }) };
}

function fill(window: AdaptiveWindow): WindowTicket[] {
  const tickets: WindowTicket[] = [];
  for (let t = window.tryAcquire(); t; t = window.tryAcquire()) tickets.push(t);
  return tickets;
}

/**
 * Plays a shared capacity of `capacity` calls in flight: each round trip, the window is filled, the
 * calls beyond the capacity are refused, the others succeed. Returns the calls per round and refusals.
 */
function play(window: AdaptiveWindow, capacity: (round: number) => number, rounds: number) {
  const served: number[] = [];
  let refused = 0;
  for (let round = 0; round < rounds; round++) {
    const tickets = fill(window);
    const cap = capacity(round);
    tickets.forEach((ticket, i) => {
      if (i < cap) ticket.end('success');
      else {
        ticket.end('refused');
        refused += 1;
      }
    });
    served.push(Math.min(cap, tickets.length));
  }
  return { served, refused };
}

describe('AdaptiveWindow (AIMD)', () => {
  it('admits calls up to its window, and one more once a call ends', () => {
    const { window } = setup({ initial: 3 });
    const tickets = fill(window);
    expect(tickets).toHaveLength(3);
    expect(window.tryAcquire()).toBeUndefined();
    expect(window.hasRoom()).toBe(false);
    tickets[0]?.end('none');
    expect(window.hasRoom()).toBe(true);
    expect(window.snapshot()).toMatchObject({ limit: 3, inFlight: 2 });
  });

  it('slow start: each success of a full window adds one call, so the window doubles per round trip', () => {
    const { window } = setup({ initial: 2 });
    for (const t of fill(window)) t.end('success');
    expect(window.limit).toBe(4);
    for (const t of fill(window)) t.end('success');
    expect(window.limit).toBe(8);
  });

  it('does not grow while the window is not used', () => {
    const { window } = setup({ initial: 8 });
    for (let i = 0; i < 50; i++) window.tryAcquire()?.end('success');
    expect(window.limit).toBe(8);
  });

  it('a refusal cuts the window to 0.85 of the most calls in flight during the refused call; more refusals of the same overshoot bring it to the calls that got through', () => {
    const { window } = setup({ initial: 16 });
    const tickets = fill(window);
    // Capacity 8: the 9th to 16th are refused (at once, before the others' replies).
    tickets.slice(8, 9).forEach((t) => t.end('refused'));
    expect(window.limit).toBe(13); // 16 in flight x 0.85
    tickets.slice(9).forEach((t) => t.end('refused'));
    expect(window.limit).toBe(8); // 16 - 8 refused
    tickets.slice(0, 8).forEach((t) => t.end('success'));
    expect(window.limit).toBe(8);
    // A refusal of a call admitted after that cut is a new overshoot: 0.85 again.
    const next = fill(window);
    next[0]?.end('refused');
    expect(window.limit).toBe(6);
    expect(window.snapshot()).toMatchObject({ successes: 8, refusals: 9, inFlight: 7 });
  });

  it('a timeout shrinks the window like a refusal; min 1', () => {
    const { window } = setup({ initial: 1 });
    window.tryAcquire()?.end('timeout');
    expect(window.limit).toBe(1);
    expect(window.snapshot().timeouts).toBe(1);
    const { window: w4 } = setup({ initial: 4 });
    const [first] = fill(w4);
    first?.end('timeout');
    expect(w4.limit).toBe(3);
  });

  it('after the first refusal it grows by a quarter call per round trip (congestion avoidance)', () => {
    const { window } = setup({ initial: 2 });
    const tickets = fill(window);
    tickets[0]?.end('refused'); // 2 in flight: cut to 1.7
    tickets.slice(1).forEach((t) => t.end('none'));
    expect(window.limit).toBe(1);
    // Round trips of full windows: a quarter of a call per round trip.
    const limits: number[] = [];
    for (let round = 0; round < 8; round++) {
      for (const t of fill(window)) t.end('success');
      limits.push(window.limit);
    }
    expect(limits).toEqual([1, 1, 2, 2, 2, 2, 2, 3]);
  });

  it('settles at a shared capacity of 8: at least 90% used, refusals at most 5% of calls', () => {
    const { window } = setup();
    const { served, refused } = play(window, () => 8, 400);
    const calls = served.reduce((a, b) => a + b, 0) + refused;
    const used = served.slice(20).reduce((a, b) => a + b, 0) / (8 * (served.length - 20));
    expect(used).toBeGreaterThanOrEqual(0.9);
    expect(refused / calls).toBeLessThanOrEqual(0.05);
  });

  it('follows a capacity that drops from 8 to 3 and comes back', () => {
    const { window } = setup();
    const capacity = (round: number) => (round >= 100 && round < 200 ? 3 : 8);
    const { served, refused } = play(window, capacity, 300);
    const calls = served.reduce((a, b) => a + b, 0) + refused;
    const available = served.map((_, round) => capacity(round)).reduce((a, b) => a + b, 0);
    expect(served.reduce((a, b) => a + b, 0) / available).toBeGreaterThanOrEqual(0.85);
    expect(refused / calls).toBeLessThanOrEqual(0.1);
    // Well inside the low phase the window is near 3; back at 8 afterwards.
    expect(served.slice(150, 200).every((n) => n >= 2 && n <= 3)).toBe(true);
    expect(Math.max(...served.slice(280))).toBe(8);
  });

  it('after 30 s with no call through (capacity gone), the first success starts slow start again instead of crawling up from 1', () => {
    const { clock, window } = setup({ initial: 8 });
    // Capacity gone: every call refused, the window comes down to 1.
    for (let round = 0; round < 6; round++) for (const t of fill(window)) t.end('refused');
    expect(window.limit).toBe(1);
    clock.t += 31_000;
    const limits: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (const t of fill(window)) t.end('success');
      limits.push(window.limit);
    }
    expect(limits).toEqual([2, 4, 8, 16]);
  });
});
