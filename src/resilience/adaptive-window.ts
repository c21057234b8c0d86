/**
 * An adaptive concurrency window for capacity that is shared and unknown (Vertex's dynamic shared
 * quota): AIMD as in TCP congestion control (RFC 5681). Slow start (+1 per success) until the first
 * refusal; then additive increase (`increase` calls per window's worth of successes) and a
 * multiplicative decrease to `decrease` times the most calls in flight while the refused call was
 * (TCP's ssthresh = FlightSize / 2), at most once per round trip: refusals of calls that started
 * before the last decrease belong to the same overshoot, and only bring the window down to the calls
 * of that overshoot that were not refused (a big overshoot, e.g. at the end of slow start, is undone
 * in one round trip instead of one cut per round trip). The increase doubles every 4 round trips
 * without a refusal, up to 4 times its base (as CUBIC probes faster far from its last loss), so that
 * capacity that comes back after a drop is found in seconds, not minutes.
 *
 * The window is plain data (`WindowState`) changed by pure functions, so that runs on one host (the
 * shared file) or on many (Redis) can hold one window per model and location and change it in turn;
 * `AdaptiveWindow` keeps one in memory for a process alone.
 */
export interface WindowParams {
  /** The window before anything is known (slow start grows it from there). */
  initial: number;
  min: number;
  max: number;
  /** Calls added per full window of successes (congestion avoidance). */
  increase: number;
  /** The share of the flight size kept after a refusal. */
  decrease: number;
}

export const DEFAULT_WINDOW: WindowParams = { initial: 4, min: 1, max: 1000, increase: 0.25, decrease: 0.85 };

/** How a call admitted by the window ended. `none`: no verdict on capacity (not sent, or failed otherwise). */
export type WindowOutcome = 'success' | 'refused' | 'timeout' | 'none';

/** One call in flight: when it was admitted (`seq`, `at`), by which process, and the most calls in flight (itself included) since. */
export interface OpenCall {
  seq: number;
  peak: number;
  limitAtStart: number;
  holder: string;
  at: number;
}

/** Outcomes counted over a recent stretch of time (the share of refusals that status shows). */
export interface OutcomeCounts {
  from: number;
  successes: number;
  refusals: number;
  timeouts: number;
}

export interface WindowState {
  limit: number;
  slowStart: boolean;
  /** Admissions so far, and the count at the last decrease (calls admitted before it share its overshoot). */
  admitted: number;
  admittedAtDecrease: number;
  /** The overshoot since the last decrease: the most calls in flight seen by its refused calls, and how many were refused. */
  episode: { peak: number; refused: number };
  /** Successes since the last decrease (round trips without a refusal, times the window). */
  calm: number;
  /** When a call last got through. */
  lastSuccessAt: number;
  /** The calls in flight, by ticket (`seq`). */
  open: Record<string, OpenCall>;
  successes: number;
  refusals: number;
  timeouts: number;
  /** The current and the previous minute's outcomes. */
  recent: OutcomeCounts;
  previous: OutcomeCounts;
  updatedAt: number;
}

export interface WindowSnapshot {
  limit: number;
  inFlight: number;
  successes: number;
  refusals: number;
  timeouts: number;
  /** Refused calls over calls ended with a verdict, in the last one to two minutes (0 when none ended). */
  refusedShare: number;
}

/** No call through for this long, then one: the window starts again with slow start. */
const RESTART_AFTER_MS = 30_000;

/** The stretch of time the recent share of refusals covers (two of them at most). */
const RECENT_MS = 60_000;

const counts = (from: number): OutcomeCounts => ({ from, successes: 0, refusals: 0, timeouts: 0 });

export function newWindowState(now: number, params: WindowParams = DEFAULT_WINDOW): WindowState {
  return {
    limit: Math.min(params.max, Math.max(params.min, params.initial)),
    slowStart: true,
    admitted: 0,
    admittedAtDecrease: 0,
    episode: { peak: 0, refused: 0 },
    calm: 0,
    lastSuccessAt: now,
    open: {},
    successes: 0,
    refusals: 0,
    timeouts: 0,
    recent: counts(now),
    previous: counts(now),
    updatedAt: now,
  };
}

/** Calls allowed in flight (the window's whole part). */
export function windowLimit(state: WindowState, params: WindowParams = DEFAULT_WINDOW): number {
  return Math.max(params.min, Math.floor(state.limit));
}

export function callsInFlight(state: WindowState): number {
  return Object.keys(state.open).length;
}

export function windowHasRoom(state: WindowState, params: WindowParams = DEFAULT_WINDOW): boolean {
  return callsInFlight(state) < windowLimit(state, params);
}

/** Admits a call when the window has room: its ticket, or undefined when the window is full. */
export function admitCall(state: WindowState, holder: string, now: number, params: WindowParams = DEFAULT_WINDOW): string | undefined {
  if (!windowHasRoom(state, params)) return undefined;
  state.admitted += 1;
  const id = String(state.admitted);
  state.open[id] = { seq: state.admitted, peak: 0, limitAtStart: windowLimit(state, params), holder, at: now };
  const flight = callsInFlight(state);
  for (const call of Object.values(state.open)) call.peak = Math.max(call.peak, flight);
  state.updatedAt = now;
  return id;
}

/** Ends a call (once: a ticket already ended or dropped is ignored) and learns from its outcome. */
export function endCall(state: WindowState, ticket: string, outcome: WindowOutcome, now: number, params: WindowParams = DEFAULT_WINDOW): void {
  const call = state.open[ticket];
  if (!call) return;
  delete state.open[ticket];
  state.updatedAt = now;
  learn(state, call, outcome, now, params);
}

/** Calls whose process is gone (or that outlived any call): ended with no verdict, so their places free. */
export function dropLostCalls(state: WindowState, lost: (call: OpenCall) => boolean): number {
  let dropped = 0;
  // for...in, not Object.entries: asked at every look at a shared window, with every call in flight.
  for (const ticket in state.open) {
    const call = state.open[ticket];
    if (call === undefined || !lost(call)) continue;
    delete state.open[ticket];
    dropped += 1;
  }
  return dropped;
}

function countOutcome(state: WindowState, outcome: Exclude<WindowOutcome, 'none'>, now: number): void {
  if (now - state.recent.from >= RECENT_MS) {
    state.previous = now - state.recent.from >= 2 * RECENT_MS ? counts(now) : state.recent;
    state.recent = counts(now);
  }
  const field = outcome === 'success' ? 'successes' : outcome === 'refused' ? 'refusals' : 'timeouts';
  state[field] += 1;
  state.recent[field] += 1;
}

function learn(state: WindowState, call: OpenCall, outcome: WindowOutcome, now: number, params: WindowParams): void {
  if (outcome === 'none') return;
  countOutcome(state, outcome, now);
  if (outcome === 'success') {
    // The first call through after a long spell of refusals (capacity was gone, or the run stalled): slow start again,
    // as TCP does after a retransmission timeout, since what the window learned before no longer says where the capacity is.
    if (now - (state.lastSuccessAt ?? now) >= RESTART_AFTER_MS && state.refusals + state.timeouts > 0) state.slowStart = true;
    state.lastSuccessAt = now;
    // Grow only while the window is used: an idle window says nothing about capacity.
    if (call.peak + 1 < call.limitAtStart) return;
    state.calm += 1;
    const boost = 2 ** Math.min(2, Math.floor(state.calm / (4 * state.limit)));
    state.limit = Math.min(params.max, state.limit + (state.slowStart ? 1 : (params.increase * boost) / state.limit));
    return;
  }
  if (call.seq <= state.admittedAtDecrease) {
    // The same overshoot as a decrease already made: the capacity was at most the calls of it that got through.
    state.episode = { peak: Math.max(state.episode.peak, call.peak), refused: state.episode.refused + 1 };
    state.limit = Math.max(params.min, Math.min(state.limit, state.episode.peak - state.episode.refused));
    return;
  }
  state.slowStart = false;
  state.calm = 0;
  state.episode = { peak: call.peak, refused: 1 };
  state.limit = Math.max(params.min, Math.min(state.limit, call.peak) * params.decrease);
  state.admittedAtDecrease = state.admitted;
}

export function windowSnapshot(state: WindowState, now: number, params: WindowParams = DEFAULT_WINDOW): WindowSnapshot {
  const buckets = [state.recent, ...(now - state.recent.from < 2 * RECENT_MS && state.previous !== state.recent ? [state.previous] : [])].filter(
    (b) => now - b.from < 2 * RECENT_MS,
  );
  const refused = buckets.reduce((n, b) => n + b.refusals, 0);
  const ended = buckets.reduce((n, b) => n + b.successes + b.refusals + b.timeouts, 0);
  return {
    limit: windowLimit(state, params),
    inFlight: callsInFlight(state),
    successes: state.successes,
    refusals: state.refusals,
    timeouts: state.timeouts,
    refusedShare: ended === 0 ? 0 : refused / ended,
  };
}

/** One admitted call; `end` once. */
export interface WindowTicket {
  end(outcome: WindowOutcome): void;
}

/** A window a project pool paces a model and location with: in memory, or shared with other runs. */
export interface CapacityWindow {
  /** Whether a call could be admitted now (as last seen: never waits). */
  hasRoom(): boolean;
  /** Admits a call, or undefined when the window is full (or cannot be reached). */
  acquire(): WindowTicket | undefined | Promise<WindowTicket | undefined>;
  snapshot(): WindowSnapshot;
  /** Whether other processes share it (their calls end unseen: look again soon rather than wait to be told). */
  readonly shared: boolean;
}

export interface AdaptiveWindowOptions extends Partial<WindowParams> {
  now: () => number;
}

/** A window held in memory by one process. */
export class AdaptiveWindow implements CapacityWindow {
  readonly shared = false;
  private readonly state: WindowState;
  private readonly params: WindowParams;

  constructor(private readonly options: AdaptiveWindowOptions) {
    this.params = { ...DEFAULT_WINDOW, ...definedOnly(options) };
    this.state = newWindowState(options.now(), this.params);
  }

  /** Calls allowed in flight now (the window's whole part). */
  get limit(): number {
    return windowLimit(this.state, this.params);
  }

  get inFlight(): number {
    return callsInFlight(this.state);
  }

  hasRoom(): boolean {
    return windowHasRoom(this.state, this.params);
  }

  acquire(): WindowTicket | undefined {
    return this.tryAcquire();
  }

  /** Admits a call when the window has room; undefined when it is full. */
  tryAcquire(): WindowTicket | undefined {
    const ticket = admitCall(this.state, 'self', this.options.now(), this.params);
    if (ticket === undefined) return undefined;
    return {
      end: (outcome) => endCall(this.state, ticket, outcome, this.options.now(), this.params),
    };
  }

  snapshot(): WindowSnapshot {
    return windowSnapshot(this.state, this.options.now(), this.params);
  }
}

function definedOnly(options: Partial<WindowParams>): Partial<WindowParams> {
  return Object.fromEntries(Object.entries(options).filter(([key, value]) => key !== 'now' && value !== undefined)) as Partial<WindowParams>;
}
