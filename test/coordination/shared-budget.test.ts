import { describe, expect, it } from 'vitest';
import { CoordinationLostError, NANO, type BudgetHold, type SharedBudgetBackend } from '../../src/coordination/coordinator.js';
import { SharedBudget, type BudgetAlert } from '../../src/coordination/shared-budget.js';
import { Budget, BudgetPair, RETRY_LATER, type Reservation } from '../../src/estimate/budget.js';

/** A reservation that must have been made. */
function made(reservation: Reservation | undefined | typeof RETRY_LATER): Reservation {
  if (reservation === undefined || reservation === RETRY_LATER) throw new Error(`expected a reservation, got ${String(reservation)}`);
  return reservation;
}

/** The shared store as several processes see it, in memory (the SQLite and Redis stores are tested on their own). */
function memoryBackend(): SharedBudgetBackend & { spent: number; held: number; down: boolean; alerts: number; rows: Map<string, number> } {
  let next = 0;
  const backend = {
    spent: 0,
    held: 0,
    down: false,
    alerts: 0,
    rows: new Map<string, number>(),
    reserve: (_scope: string, day: string, capNano: number, nano: number, _job: string, force: boolean) => {
      if (backend.down) return Promise.reject(new CoordinationLostError('redis://x:1', 'connect ECONNREFUSED'));
      if (!force && backend.spent + backend.held + nano > capNano)
        return Promise.resolve({ spentNano: backend.spent, heldNano: backend.held, hold: undefined });
      backend.held += nano;
      const hold: BudgetHold = { id: String(++next), nano, day };
      return Promise.resolve({ spentNano: backend.spent, heldNano: backend.held, hold });
    },
    settle: (_scope: string, hold: BudgetHold, job: string, project: string, actualNano: number) => {
      backend.held -= hold.nano;
      backend.spent += actualNano;
      backend.rows.set(`${job}/${project}`, (backend.rows.get(`${job}/${project}`) ?? 0) + actualNano);
      return Promise.resolve({ spentNano: backend.spent, heldNano: backend.held });
    },
    record: () => Promise.resolve(),
    day: (_scope: string, day: string) => Promise.resolve({ day, spentNano: backend.spent, heldNano: backend.held, rows: [] }),
    claimAlert: () => Promise.resolve(++backend.alerts === 1),
  };
  return backend;
}

function shared(backend: SharedBudgetBackend, job: string, onAlert?: (alert: BudgetAlert) => void): SharedBudget {
  return new SharedBudget({
    backend,
    limits: { dailyUsd: 1, alertAt: 0.5 },
    scope: 'scope',
    job,
    credentialsFile: '/etc/genbatch/credentials.yaml',
    ...(onAlert ? { onAlert } : {}),
    now: () => Date.parse('2026-03-01T12:00:00Z'),
  });
}

describe('SharedBudget beside the job budget (BudgetPair)', () => {
  it('a call is reserved by both guards or by neither; the shared refusal says which cap and where', async () => {
    const backend = memoryBackend();
    const own = new Budget({ maxUsd: 10 }, 0, 0);
    const mine = shared(backend, 'briefs');
    const pair = new BudgetPair(own, mine);
    const first = made(await pair.reserve(0.7));
    // Another job already holds the rest of the day.
    const other = shared(backend, 'captions');
    expect(await other.reserve(0.3)).toBeDefined();
    expect(await pair.reserve(0.2)).toBeUndefined();
    // The job's own budget was not left holding the refused call.
    expect(own.holding).toBe(true);
    pair.settle(first, 0.1, 'proj-a');
    expect(own.holding).toBe(false);
    const error = pair.stopError(0.2);
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain('which could cross budget.daily_usd of $1.00 in /etc/genbatch/credentials.yaml, shared by every job using that file');
    expect(error.hint).toContain('genbatch cost --all /etc/genbatch/credentials.yaml');
    await mine.flush();
    expect(backend.rows.get('briefs/proj-a')).toBe(0.1 * NANO);
    // The job's own cap refuses first, and says so.
    const tight = new BudgetPair(new Budget({ maxUsd: 0.05 }, 0, 0), shared(backend, 'briefs'));
    expect(await tight.reserve(0.1)).toBeUndefined();
    expect(tight.stopError(0.1).message).toContain("the job's budget.max_usd of $0.05");
  });

  it('answers RETRY_LATER while the shared store cannot be reached (the call waits; the run is not stopped)', async () => {
    const backend = memoryBackend();
    backend.down = true;
    const own = new Budget({}, 0, 0);
    const pair = new BudgetPair(own, shared(backend, 'briefs'));
    expect(await pair.reserve(0.1)).toBe(RETRY_LATER);
    expect(own.holding).toBe(false);
  });

  it('sends the alert once when the day crosses alert_at, whichever job crossed it', async () => {
    const backend = memoryBackend();
    const alerts: BudgetAlert[] = [];
    const a = shared(backend, 'briefs', (alert) => alerts.push(alert));
    const b = shared(backend, 'captions', (alert) => alerts.push(alert));
    for (const guard of [a, b, a, b]) {
      guard.settle(made(await guard.reserve(0.2)), 0.2, 'p');
      await guard.flush();
    }
    expect(alerts).toEqual([{ day: '2026-03-01', dailyUsd: 1, alertAt: 0.5, spentUsd: 0.6, credentialsFile: '/etc/genbatch/credentials.yaml', job: 'briefs' }]);
  });
});
