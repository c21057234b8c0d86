import {
  DEFAULT_WINDOW,
  admitCall,
  dropLostCalls,
  endCall,
  newWindowState,
  windowHasRoom,
  windowSnapshot,
  type CapacityWindow,
  type OpenCall,
  type WindowOutcome,
  type WindowSnapshot,
  type WindowState,
  type WindowTicket,
} from '../resilience/adaptive-window.js';
import { lockHolderState } from '../store/process-alive.js';
import type { Coordinator } from './coordinator.js';

/** A window left unused this long starts again from slow start: what it learned is too old to trust. */
const IDLE_RESET_MS = 10 * 60_000;
/** A call of a process that is not seen alive, and this old, holds no place (a process killed mid-call). */
const LOST_AFTER_MS = 15_000;
/** No call lasts this long: its place is freed whoever holds it. */
const LONGEST_CALL_MS = 15 * 60_000;

/**
 * Whether a process (a coordinator id, `host:pid:nonce`) is known to be gone: one of this host whose
 * pid no longer runs (a run killed mid-call frees its places at once; `kill -9` then resume does not wait).
 */
function processGone(holder: string): boolean {
  // Asked for every call in flight each time the window is looked at: one check per process and second.
  const now = Date.now();
  const seen = goneSeen.get(holder);
  if (seen && now - seen.at < 1000) return seen.gone;
  const gone = checkGone(holder);
  goneSeen.set(holder, { at: now, gone });
  if (goneSeen.size > 1000) goneSeen.clear();
  return gone;
}

const goneSeen = new Map<string, { at: number; gone: boolean }>();

function checkGone(holder: string): boolean {
  const parts = holder.split(':');
  const pid = Number(parts.at(-2));
  const host = parts.slice(0, -2).join(':');
  // The same judgement as a job's lock: gone only when known gone on this host.
  return Number.isInteger(pid) && pid > 0 && lockHolderState(pid, host) === 'gone';
}

/**
 * The adaptive window of a model at a location, held where every run of this host (the shared file)
 * or of every host (Redis) reads and changes it, one change at a time: the runs together keep as many
 * calls in flight as the window allows, and each run's successes and refusals move the one window.
 * Calls of a process that died free their places once it is seen gone.
 */
export class SharedCapacityWindow implements CapacityWindow {
  readonly shared = true;

  constructor(
    private readonly coordinator: Pick<Coordinator, 'id' | 'isLive' | 'windows'>,
    private readonly key: string,
    private readonly now: () => number,
    /** Told when a call ended here (places freed: waiting work may go). */
    private readonly onEnd: () => void,
  ) {}

  private current(text: string | undefined, now: number): WindowState {
    let state: WindowState | undefined;
    try {
      state = text === undefined ? undefined : (JSON.parse(text) as WindowState);
    } catch {
      state = undefined;
    }
    if (!state || now - state.updatedAt >= IDLE_RESET_MS) return newWindowState(now, DEFAULT_WINDOW);
    dropLostCalls(state, (call) => this.lost(call, now));
    return state;
  }

  private lost(call: OpenCall, now: number): boolean {
    if (call.holder === this.coordinator.id) return false;
    const age = now - call.at;
    if (age >= LONGEST_CALL_MS || processGone(call.holder)) return true;
    return age >= LOST_AFTER_MS && !this.coordinator.isLive(call.holder);
  }

  hasRoom(): boolean {
    const now = this.now();
    return windowHasRoom(this.current(this.coordinator.windows.peek(this.key), now));
  }

  async acquire(): Promise<WindowTicket | undefined> {
    const ticket = await this.coordinator.windows
      .change(this.key, (text) => {
        const now = this.now();
        const state = this.current(text, now);
        const result = admitCall(state, this.coordinator.id, now);
        return { state: JSON.stringify(state), result };
      })
      .catch(() => undefined);
    if (ticket === undefined) return undefined;
    let ended = false;
    return {
      end: (outcome: WindowOutcome) => {
        if (ended) return;
        ended = true;
        void this.coordinator.windows
          .change(this.key, (text) => {
            const now = this.now();
            const state = this.current(text, now);
            endCall(state, ticket, outcome, now);
            return { state: JSON.stringify(state), result: undefined };
          })
          // Not written (coordination lost): the place is freed once the call is old enough to be taken for lost.
          .catch(() => undefined)
          .finally(this.onEnd);
      },
    };
  }

  snapshot(): WindowSnapshot {
    const now = this.now();
    return windowSnapshot(this.current(this.coordinator.windows.peek(this.key), now), now);
  }
}
