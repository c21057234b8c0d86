import type Bottleneck from 'bottleneck';
import { steadyNow } from '../resilience/steady-clock.js';

/**
 * Bottleneck's local store paces on `Date.now()`: a wall-clock step of 10 minutes back would hold
 * every start for 10 minutes (its next start, and the tokens' refresh, sit 10 minutes ahead). These
 * are the fields of its LocalDatastore (2.19.5, the last release) that hold wall-clock instants;
 * when the wall clock steps against the monotonic one, they move with it, so a step changes nothing.
 * (Clustered limiters pace on Redis's clock and are left alone.)
 */
interface LocalStoreClock {
  _nextRequest: number;
  _lastReservoirRefresh: number;
  _lastReservoirIncrease: number;
  __register__: (...args: unknown[]) => unknown;
  __check__: (...args: unknown[]) => unknown;
}

/** Smaller differences are drift and rounding, not a step. */
const STEP_MS = 250;
/** How often an idle limiter's store is checked (a limiter waiting on its tokens registers nothing). */
const CHECK_MS = 1000;

const stores = new Set<LocalStoreClock>();
let wallOffset = Date.now() - steadyNow();
let timer: NodeJS.Timeout | undefined;

function shiftOnStep(): void {
  const offset = Date.now() - steadyNow();
  const step = offset - wallOffset;
  if (Math.abs(step) < STEP_MS) return;
  wallOffset = offset;
  for (const store of stores) {
    store._nextRequest += step;
    store._lastReservoirRefresh += step;
    store._lastReservoirIncrease += step;
  }
}

function isLocalStore(store: unknown): store is LocalStoreClock {
  const s = store as Partial<LocalStoreClock> | undefined;
  return typeof s?._nextRequest === 'number' && typeof s.__register__ === 'function' && typeof s.__check__ === 'function';
}

/** Makes a local Bottleneck limiter follow wall-clock steps. Returns how to stop following (when the limiter is dropped). */
export function followWallClockSteps(limiter: Bottleneck): () => void {
  const store: unknown = (limiter as unknown as { _store?: unknown })._store;
  if (!isLocalStore(store)) return () => undefined;
  for (const method of ['__register__', '__check__'] as const) {
    const original = store[method].bind(store);
    store[method] = (...args: unknown[]) => {
      shiftOnStep();
      return original(...args);
    };
  }
  if (stores.size === 0) wallOffset = Date.now() - steadyNow();
  stores.add(store);
  timer ??= setInterval(shiftOnStep, CHECK_MS).unref();
  return () => {
    stores.delete(store);
    if (stores.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}
