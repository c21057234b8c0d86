import { describe, expect, it } from 'vitest';
import type { GateRequest, GateTurn, SharedGate } from '../../src/coordination/coordinator.js';
import { declaredIntervalMs, ModelLimiter } from '../../src/coordination/model-limiter.js';

/** A gate that grants every turn at once (its start is now), recording what it was asked. */
function recordingGate(): SharedGate & { taken: GateRequest[]; ended: [number | undefined][]; readyAsked: unknown[] } {
  const taken: GateRequest[] = [];
  const ended: [number | undefined][] = [];
  const readyAsked: unknown[] = [];
  return {
    taken,
    ended,
    readyAsked,
    now: Date.now,
    take: (request) => {
      taken.push(request);
      const turn: GateTurn = {
        ok: true,
        startAt: Date.now(),
        gapMs: request.gapMs,
        leaseId: taken.length,
        tokens: request.tpm ? request.tokens : 0,
        tokensWindow: 0,
      };
      return turn;
    },
    ready: (request) => {
      readyAsked.push(request);
      return true;
    },
    end: (_turn, actual) => ended.push([actual]),
    startedLate: () => undefined,
  };
}

describe('ModelLimiter with limits shared on this host (a gate in the shared file)', () => {
  it('takes its turns at the gate: the first call leaves a wider gap (alone: doubled; shared: at least 350 ms), releases give the place and the tokens back', async () => {
    const gate = recordingGate();
    const quota = { requests: 10, windowMs: 1000, concurrency: 3, tpm: 5000 };
    const limiter = new ModelLimiter(quota, Date.now, { gate });
    const solo = declaredIntervalMs(quota) ?? 0;
    const first = await limiter.acquire(700, () => false);
    const second = await limiter.acquire(300, () => false);
    expect(gate.taken).toEqual([
      { gapMs: 2 * solo, sharedGapMs: 350, tokens: 700, concurrency: 3, tpm: 5000 },
      { gapMs: solo, sharedGapMs: declaredIntervalMs(quota, 40), tokens: 300, concurrency: 3, tpm: 5000 },
    ]);
    first?.release(120);
    first?.release(999);
    second?.release();
    expect(gate.ended).toEqual([[120], [undefined]]);
    expect(await limiter.ready()).toBe(true);
    expect(gate.readyAsked).toEqual([{ concurrency: 3, tpm: 5000 }]);
  });

  it('gives a turn back when the caller has gone (the project cooled down meanwhile)', async () => {
    const gate = recordingGate();
    let calls = 0;
    const limiter = new ModelLimiter({ rpm: 60 }, Date.now, { gate });
    // Asked before the turn (still wanted), then after it (gone).
    const slot = await limiter.acquire(0, () => ++calls > 1);
    expect(slot).toBeUndefined();
    expect(gate.ended).toEqual([[0]]);
  });

  it('shares nothing when nothing is declared: no turn is taken, calls are not paced', async () => {
    const gate = recordingGate();
    const limiter = new ModelLimiter({ rpd: 100 }, Date.now, { gate });
    const slot = await limiter.acquire(0, () => false);
    expect(slot).toBeDefined();
    expect(await limiter.ready()).toBe(true);
    expect(gate.taken).toEqual([]);
    expect(gate.readyAsked).toEqual([]);
  });
});
