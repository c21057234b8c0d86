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
/** How often a window this run already looked through is looked through again for lost calls. */
const LOST_CHECK_MS = 1000;

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

function endCalls(state: WindowState, ending: readonly { ticket: string; outcome: WindowOutcome }[], now: number): void {
  for (const { ticket, outcome } of ending) endCall(state, ticket, outcome, now);
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

  /**
   * The last state text this process read or wrote, parsed. Most reads find the text it wrote itself
   * (alone on the host, always): no parse then, which at 64 calls in flight was a tenth of a run's CPU.
   */
  private last: { text: string; state: WindowState; checkedAt: number } | undefined;

  private current(text: string | undefined, now: number): WindowState {
    let state: WindowState | undefined;
    const known = text !== undefined && this.last?.text === text ? this.last : undefined;
    if (known) state = known.state;
    else {
      try {
        state = text === undefined ? undefined : (JSON.parse(text) as WindowState);
      } catch {
        state = undefined;
      }
      this.last = state && text !== undefined ? { text, state, checkedAt: -Infinity } : undefined;
    }
    if (!state || now - state.updatedAt >= IDLE_RESET_MS) return newWindowState(now, DEFAULT_WINDOW);
    // Lost calls are other runs' (never this run's own, which are all a known state adds): looked for
    // once a second (processGone's own pace) in a state this run already looked through.
    const last = this.last;
    if (last?.state === state && now - last.checkedAt < LOST_CHECK_MS) return state;
    dropLostCalls(state, (call) => this.lost(call, now));
    if (last?.state === state) last.checkedAt = now;
    return state;
  }

  /** The next state (`change` may alter the one it is given), written as text and kept as the last one seen. */
  private next<T>(text: string | undefined, change: (state: WindowState, now: number) => T): { state: string; result: T } {
    const now = this.now();
    const state = this.current(text, now);
    // Altered below: no longer the state of the text it was read from.
    const checkedAt = this.last?.state === state ? this.last.checkedAt : -Infinity;
    this.last = undefined;
    this.peeked = undefined;
    const result = change(state, now);
    const written = JSON.stringify(state);
    this.last = { text: written, state, checkedAt };
    return { state: written, result };
  }

  private lost(call: OpenCall, now: number): boolean {
    if (call.holder === this.coordinator.id) return false;
    const age = now - call.at;
    if (age >= LONGEST_CALL_MS || processGone(call.holder)) return true;
    return age >= LOST_AFTER_MS && !this.coordinator.isLive(call.holder);
  }

  /**
   * The state text read in this turn of the event loop: a lease asks whether the window has room
   * three or four times (each a read of the shared file) before it takes a place, which reads it
   * again. This process's own changes are seen at once; other runs' at the next turn.
   */
  private peeked: { text: string | undefined } | undefined;

  private peek(): string | undefined {
    if (this.peeked === undefined) {
      this.peeked = { text: this.coordinator.windows.peek(this.key) };
      setImmediate(() => (this.peeked = undefined));
    }
    return this.peeked.text;
  }

  hasRoom(): boolean {
    const now = this.now();
    return windowHasRoom(this.current(this.peek(), now));
  }

  async acquire(): Promise<WindowTicket | undefined> {
    // The calls ended since the last change are written with this one (one transaction, not two).
    const ending = this.ending.splice(0);
    const ticket = await this.coordinator.windows
      .change(this.key, (text) => this.next(text, (state, now) => (endCalls(state, ending, now), admitCall(state, this.coordinator.id, now))))
      .catch(() => undefined);
    if (ending.length > 0) this.onEnd();
    if (ticket === undefined) return undefined;
    let ended = false;
    return {
      end: (outcome: WindowOutcome) => {
        if (ended) return;
        ended = true;
        this.ending.push({ ticket, outcome });
        if (this.ending.length === 1) setImmediate(() => this.writeEnds());
      },
    };
  }

  /**
   * Calls ended here and not yet written. A burst of replies ends many calls in one turn of the event
   * loop: they are written together at its end (or with the next acquire), one transaction instead
   * of one each.
   */
  private ending: { ticket: string; outcome: WindowOutcome }[] = [];

  private writeEnds(): void {
    const ending = this.ending.splice(0);
    if (ending.length === 0) return;
    void this.coordinator.windows
      .change(this.key, (text) => this.next(text, (state, now) => endCalls(state, ending, now)))
      // Not written (coordination lost): the place is freed once the call is old enough to be taken for lost.
      .catch(() => undefined)
      .finally(this.onEnd);
  }

  snapshot(): WindowSnapshot {
    const now = this.now();
    return windowSnapshot(this.current(this.peek(), now), now);
  }
}
