import { setTimeout as sleep } from 'node:timers/promises';
import Bottleneck from 'bottleneck';
import type { GateTurn, SharedGate, SharedLimiterHooks } from './coordinator.js';
import { whenAborted } from '../resilience/backoff.js';
import { steadyNow } from '../resilience/steady-clock.js';
import { followWallClockSteps } from './bottleneck-clock.js';
import type { QuotaLimits } from '../credentials/credentials.js';

/** A slot taken from a limiter; `release` when the call has ended (exactly once). */
export interface LimiterSlot {
  /** `sent: false` when the call was never sent (the start it took did not reach the quota). */
  release(actualTokens?: number, sent?: boolean): void;
}

/** Relative margin on the window, and the arrival jitter (ms) between our start and Vertex's clock. */
const MARGIN = 1.01;
const JITTER_MS = 15;
/**
 * Learned pacing (no declared rate): the window a 429 that names no period is taken for (Vertex's
 * per-project quotas are per minute), how many windows without a 429 before one more call per window
 * is tried (doubling after each try a 429 answers, halving after each that gets through), and the
 * most starts remembered to count them.
 */
const DEFAULT_QUOTA_WINDOW_MS = 60_000;
const PROBE_FIRST_WINDOWS = 8;
const PROBE_MIN_WINDOWS = 2;
const PROBE_MAX_WINDOWS = 64;
const MAX_REMEMBERED_STARTS = 10_000;
/** Longest wait before asking a shared gate again when it is full (calls in flight on other processes end unseen). */
const GATE_POLL_MS = 25;
/**
 * Shared spacing allows for more jitter: calls of several processes interleave, and one that leaves
 * late (its process busy writing a checkpoint, say) must not bring the next one's slot into its window.
 */
const SHARED_JITTER_MS = 40;
/** After a process's first call the gap is at least this: a cold process's first call can leave very late. */
const SHARED_FIRST_GAP_MS = 350;
/** A start this much behind its slot pushes the next slot back (for everyone). */
const LATE_MS = 3;

/**
 * Spacing between starts that keeps a sliding window under its limit: N + 1 calls must span more
 * than the window even when the first one arrives late, so each gap is (window + jitter) / N.
 */
export function declaredIntervalMs(quota: QuotaLimits, jitterMs: number = JITTER_MS): number | undefined {
  const intervals: number[] = [];
  if (quota.rpm !== undefined) intervals.push((60_000 * MARGIN + jitterMs) / quota.rpm);
  if (quota.requests !== undefined && quota.windowMs !== undefined) intervals.push((quota.windowMs * MARGIN + jitterMs) / quota.requests);
  return intervals.length === 0 ? undefined : Math.max(...intervals);
}

/** What a 429 says of its quota, for learning (QuotaExhaustedError's `quotaWindowMs` and `quotaLimit`). */
export interface NamedQuota {
  windowMs?: number;
  limit?: number;
  /** The 429's RetryInfo delay: when the window's oldest call leaves it, so when that call was sent. */
  retryAfterMs?: number;
}

/** A learned request quota: `limit` starts per sliding `windowMs`. */
export interface LearnedQuota {
  limit: number;
  windowMs: number;
}

/**
 * The limits of one project for one model, as Bottleneck limiters: start spacing (from `rpm` or
 * `requests`/`window`), `concurrency`, and a tokens-per-minute reservoir reserved with the estimated
 * tokens and corrected after the call. When no rate is declared it is learned from 429s: a 429's
 * window held as many of our calls as the quota allows, so that count is the limit; the limiter
 * paces at window / limit and tries one more call per window now and then (docs/rate-limiting.md).
 *
 * Declared limits are shared with every other genbatch process using the same project and model
 * (`shared`): on this host through a gate in the shared file, or across hosts through Bottleneck's
 * Redis clustering (the same limiter id everywhere). Without declared limits nothing is shared.
 */
export class ModelLimiter {
  private requests: Bottleneck;
  /** How to stop each local limiter following wall-clock steps. */
  private readonly unfollow = new Map<Bottleneck, () => void>();
  private requestsClustered: boolean;
  private tokens: Bottleneck | undefined;
  /** Calls of this process waiting at the shared gate, and how to wake those waiting for a place to free. */
  private gateWaiting = 0;
  private readonly gateReleases = new Set<() => void>();
  private quota: QuotaLimits;
  /** The learned quota (no declared rate), after the first 429. */
  private learned: LearnedQuota | undefined;
  /** Start times of recent calls (oldest first), and the send times of those a 429 refused. */
  private starts: number[] = [];
  private refusals: number[] = [];
  /** When the learned limit last changed (a 429 wave or a probe), and whether by a probe. */
  private changedAt = 0;
  private changedByProbe = false;
  /**
   * Whether the learned limit counted a whole window of this run's calls. A 429 in the run's first
   * window may have met calls sent before the run (a run just before it, another process): its count
   * is then only a floor, and the limit doubles each window until a 429 gives a whole count.
   */
  private learnedWhole = false;
  /** The earliest time the next learned-paced start may take (a real start's time plus the spacing). */
  private learnedNextAt = 0;
  /** This limiter's first start (calls before it are not ours to count). */
  private firstStartAt: number | undefined;
  /** Whether the current wave of 429s is the first (its calls were sent unpaced). */
  private firstWave = false;
  /** When a 429 at the learned pace last counted one short of the limit (kept once, as the window's edge). */
  private edgeRefusalAt: number | undefined;
  /** Windows without a 429 before the next probe. */
  private probeWindows = PROBE_FIRST_WINDOWS;
  /**
   * The first call of a connection is slow (connection set-up); if it reaches Vertex late, a
   * window starting at it would see one call too many. So the gap after it is doubled.
   */
  private firstStart = true;

  constructor(
    quota: QuotaLimits,
    private readonly now: () => number = steadyNow,
    private readonly shared?: SharedLimiterHooks,
  ) {
    this.quota = quota;
    this.requestsClustered = this.sharing === 'clustered';
    this.requests = this.makeRequestLimiter();
    this.tokens = this.makeTokenLimiter();
  }

  /** Declared limits that other processes must respect too. */
  private get declared(): boolean {
    return declaredIntervalMs(this.quota) !== undefined || this.quota.concurrency !== undefined || this.quota.tpm !== undefined;
  }

  /** How the declared limits are shared: a gate on this host, Redis clustering, or not at all. */
  private get sharing(): 'gate' | 'clustered' | undefined {
    if (!this.shared || !this.declared) return undefined;
    if (this.shared.gate) return 'gate';
    return this.shared.clustered ? 'clustered' : undefined;
  }

  private requestSettings(): Bottleneck.ConstructorOptions {
    const declared = declaredIntervalMs(this.quota, this.sharing === undefined ? JITTER_MS : SHARED_JITTER_MS);
    // Shared spacing is kept by every process together: doubling it for this one's first call would slow them all.
    const double = this.firstStart && this.sharing === undefined;
    const minTime = Math.ceil((declared ?? this.learnedIntervalMs ?? 0) * (double ? 2 : 1));
    return { minTime, maxConcurrent: this.quota.concurrency ?? null };
  }

  private makeRequestLimiter(): Bottleneck {
    if (!this.requestsClustered || !this.shared?.clustered) return this.localLimiter(this.requestSettings());
    const limiter = new Bottleneck({ ...this.requestSettings(), ...this.shared.clustered('') });
    // Redis errors surface where they matter (a schedule that fails, the coordinator's health); not as events.
    limiter.on('error', () => undefined);
    // A process joining later brings the limits of its own credentials file (a raised quota takes effect).
    this.applySettings(limiter);
    return limiter;
  }

  /** A limiter of this process alone: it follows wall-clock steps (Bottleneck paces on Date.now). */
  private localLimiter(settings: Bottleneck.ConstructorOptions): Bottleneck {
    const limiter = new Bottleneck(settings);
    this.unfollow.set(limiter, followWallClockSteps(limiter));
    return limiter;
  }

  /** Stops a limiter that is replaced or no longer used. */
  private drop(limiter: Bottleneck | undefined): void {
    if (!limiter) return;
    this.unfollow.get(limiter)?.();
    this.unfollow.delete(limiter);
    void limiter.stop({ dropWaitingJobs: false }).catch(() => undefined);
  }

  private makeTokenLimiter(): Bottleneck | undefined {
    const tpm = this.quota.tpm;
    if (tpm === undefined) return undefined;
    const settings = { reservoir: tpm, reservoirRefreshAmount: tpm, reservoirRefreshInterval: 60_000 };
    if (this.sharing !== 'clustered' || !this.shared?.clustered) return this.localLimiter(settings);
    const limiter = new Bottleneck({ ...settings, ...this.shared.clustered('|tpm') });
    limiter.on('error', () => undefined);
    return limiter;
  }

  /** Settings changes of a clustered limiter are Redis calls: a failure leaves the old settings, and is not an unhandled rejection. */
  private applySettings(limiter: Bottleneck = this.requests): void {
    void Promise.resolve(limiter.updateSettings(this.requestSettings())).catch(() => undefined);
  }

  /** New limits from a reloaded credentials file; calls in flight keep their slots. */
  update(quota: QuotaLimits): void {
    const tpmChanged = quota.tpm !== this.quota.tpm;
    const wasClustered = this.requestsClustered;
    this.quota = quota;
    this.requestsClustered = this.sharing === 'clustered';
    if (wasClustered !== this.requestsClustered) {
      // Limits declared (or no longer) with Redis: the limiter moves to (or from) the cluster.
      const old = this.requests;
      this.requests = this.makeRequestLimiter();
      this.drop(old);
    } else this.applySettings();
    if (tpmChanged || wasClustered !== this.requestsClustered) {
      const old = this.tokens;
      this.tokens = this.makeTokenLimiter();
      this.drop(old);
    }
  }

  /**
   * Nothing to pace: no declared rate, concurrency or tokens, and nothing learned yet. Calls then
   * skip Bottleneck entirely (its scheduling costs more than a zero-latency call).
   */
  private get unpaced(): boolean {
    return declaredIntervalMs(this.quota) === undefined && this.learned === undefined && this.quota.concurrency === undefined && this.tokens === undefined;
  }

  /** Whether a call could start right now without waiting. */
  async ready(): Promise<boolean> {
    if (this.unpaced) return true;
    const gate = this.sharing === 'gate' ? this.shared?.gate : undefined;
    if (gate)
      return gate.ready({
        ...(this.quota.concurrency === undefined ? {} : { concurrency: this.quota.concurrency }),
        ...(this.quota.tpm === undefined ? {} : { tpm: this.quota.tpm }),
      });
    if (!this.requestsClustered || !this.shared?.lostSignal) return this.requests.check();
    // A Redis round trip: it must not hang while Redis is unreachable.
    const lost = whenAborted(this.shared.lostSignal());
    try {
      return await Promise.race([this.requests.check(), lost.promise.then(() => false)]);
    } catch {
      // Only a hint for choosing a project: the call itself finds out.
      return false;
    } finally {
      lost.dispose();
    }
  }

  queued(): number {
    const counts = this.requests.counts();
    return (counts.RECEIVED ?? 0) + (counts.QUEUED ?? 0) + this.gateWaiting;
  }

  /** Waits for a slot; resolves when the call may start. `abandoned` lets a gone caller give it back. */
  acquire(estimatedTokens: number, abandoned: () => boolean): Promise<LimiterSlot | undefined> {
    if (this.unpaced) {
      if (abandoned()) return Promise.resolve(undefined);
      // Unpaced calls warm the connection: the first paced one needs no doubled gap.
      this.firstStart = false;
      const startedAt = this.recordStart();
      return Promise.resolve({ release: (_tokens?: number, sent = true) => this.unrecordIfUnsent(startedAt, sent) });
    }
    const gate = this.sharing === 'gate' ? this.shared?.gate : undefined;
    if (gate) return this.acquireAtGate(gate, estimatedTokens, abandoned);
    return new Promise((resolve, reject) => {
      this.requests
        .schedule(
          () =>
            new Promise<void>((releaseRequest) => {
              // Bottleneck spaces the starts it schedules, not the ones that ran: after a stall (a
              // busy event loop) the next start may come right after a late one. A learned pace
              // keeps the real spacing (a declared one shares its spacing through the gate).
              const behind = this.learnedDelayMs();
              if (behind > LATE_MS) {
                setTimeout(() => this.startScheduled(abandoned, estimatedTokens, resolve, reject, releaseRequest), behind);
                return;
              }
              this.startScheduled(abandoned, estimatedTokens, resolve, reject, releaseRequest);
            }),
        )
        .catch((error: unknown) => reject(error instanceof Error ? error : new Error(String(error))));
    });
  }

  /** How long a start Bottleneck runs now waits to keep the learned spacing after the previous real one (its time is taken). */
  private learnedDelayMs(): number {
    const interval = declaredIntervalMs(this.quota) === undefined ? this.learnedIntervalMs : undefined;
    if (interval === undefined) return 0;
    const now = this.now();
    const at = Math.max(now, this.learnedNextAt);
    this.learnedNextAt = at + interval;
    return at - now;
  }

  /** A start Bottleneck scheduled: takes the tokens, if any, and hands the slot over. */
  private startScheduled(
    abandoned: () => boolean,
    estimatedTokens: number,
    resolve: (slot: LimiterSlot | undefined) => void,
    reject: (error: Error) => void,
    releaseRequest: () => void,
  ): void {
    if (abandoned()) {
      resolve(undefined);
      releaseRequest();
      return;
    }
    const startedAt = this.recordStart();
    if (this.firstStart) {
      this.firstStart = false;
      if (!this.requestsClustered) this.applySettings();
      else this.cushionFirstStart();
    }
    const tokens = this.tokens;
    const weight = tokens ? Math.min(Math.max(1, Math.round(estimatedTokens)), this.quota.tpm ?? 1) : 0;
    const grant = (): void =>
      resolve({
        release: (actualTokens?: number, sent = true) => {
          this.unrecordIfUnsent(startedAt, sent);
          // Correct the token reservation with what the call really used.
          if (tokens && actualTokens !== undefined && actualTokens !== weight)
            void Promise.resolve(tokens.incrementReservoir(weight - actualTokens)).catch(() => undefined);
          releaseRequest();
        },
      });
    if (!tokens) return grant();
    // The token reservation counts against the minute; the job itself ends at once.
    tokens
      .schedule({ weight }, async () => undefined)
      .then(grant, (error: unknown) => {
        releaseRequest();
        reject(error instanceof Error ? error : new Error(String(error)));
      });
  }

  /**
   * A clustered limiter's spacing is everyone's, so this process's first call cannot double it; it
   * takes empty slots right after that call instead (a cold process's first call can leave late).
   */
  private cushionFirstStart(): void {
    const interval = declaredIntervalMs(this.quota, SHARED_JITTER_MS);
    if (interval === undefined || interval <= 0) return;
    const empty = Math.max(1, Math.ceil(SHARED_FIRST_GAP_MS / interval) - 1);
    for (let i = 0; i < empty; i += 1) void this.requests.schedule({ priority: 0 }, () => Promise.resolve()).catch(() => undefined);
  }

  /** What a call asks of the shared gate: the gap after its start (doubled after this process's first), and the declared limits. */
  private gateRequest(tokens: number): Parameters<SharedGate['take']>[0] {
    const solo = declaredIntervalMs(this.quota) ?? this.learnedIntervalMs ?? 0;
    const shared = declaredIntervalMs(this.quota, SHARED_JITTER_MS) ?? this.learnedIntervalMs ?? 0;
    // Alone on the key the gap is the one a run has without sharing; with others it allows for more jitter.
    return {
      // Fractions of a millisecond are kept: rounding a high rate's gap up to 1 ms would cap it at 1,000 calls/s.
      gapMs: solo * (this.firstStart ? 2 : 1),
      sharedGapMs: this.firstStart && shared > 0 ? Math.max(2 * shared, SHARED_FIRST_GAP_MS) : shared,
      tokens,
      ...(this.quota.concurrency === undefined ? {} : { concurrency: this.quota.concurrency }),
      ...(this.quota.tpm === undefined ? {} : { tpm: this.quota.tpm }),
    };
  }

  /**
   * Takes a turn at the gate this host's processes share: the next start that keeps the declared
   * spacing after everyone's previous one, a place among everyone's calls in flight, the tokens of
   * the minute. Waits for that start; asks again (briefly) while the gate is full.
   */
  private async acquireAtGate(gate: SharedGate, estimatedTokens: number, abandoned: () => boolean): Promise<LimiterSlot | undefined> {
    this.gateWaiting += 1;
    try {
      for (;;) {
        if (abandoned()) return undefined;
        const request = this.gateRequest(estimatedTokens);
        const turn: GateTurn = gate.take(request);
        if (!turn.ok) {
          // Full: ask again soon (other processes' calls end unseen), or at once when one of this process's ends.
          const wake = new AbortController();
          const waiter = (): void => wake.abort();
          this.gateReleases.add(waiter);
          await sleep(Math.max(1, Math.min(GATE_POLL_MS, turn.retryAt - gate.now())), undefined, { signal: wake.signal }).catch(() => undefined);
          this.gateReleases.delete(waiter);
          continue;
        }
        this.firstStart = false;
        // Timers do not fire in less than a millisecond: a start due within one goes now.
        const wait = turn.startAt - gate.now();
        if (wait >= 1) await sleep(wait);
        if (abandoned()) {
          // The start itself is spent; the place in flight and the tokens go back.
          gate.end(turn, 0);
          for (const wake of [...this.gateReleases]) wake();
          return undefined;
        }
        // Woken late (a busy event loop): the next slot keeps its gap from this real start.
        const late = gate.now() - turn.startAt;
        if (late > LATE_MS && turn.gapMs > 0) gate.startedLate(gate.now() + turn.gapMs);
        const startedAt = this.recordStart();
        let released = false;
        return {
          release: (actualTokens?: number, sent = true) => {
            if (released) return;
            released = true;
            this.unrecordIfUnsent(startedAt, sent);
            gate.end(turn, actualTokens);
            for (const wake of [...this.gateReleases]) wake();
          },
        };
      }
    } finally {
      this.gateWaiting -= 1;
    }
  }

  /** Records a start, for counting the calls a quota's window held when a 429 comes; probes upward when due. */
  private recordStart(): number {
    const now = this.now();
    this.firstStartAt ??= now;
    this.starts.push(now);
    // Trimmed in chunks: an unpaced run records every call.
    if (this.starts.length > 2 * MAX_REMEMBERED_STARTS) this.starts.splice(0, this.starts.length - MAX_REMEMBERED_STARTS);
    this.probeIfDue(now);
    return now;
  }

  /** A slot given back without its call being sent (the project was cooling down, say): that start did not happen. */
  private unrecordIfUnsent(startedAt: number, sent: boolean): void {
    if (sent) return;
    const i = this.starts.lastIndexOf(startedAt);
    if (i >= 0) this.starts.splice(i, 1);
  }

  /** How many of `times` (oldest first) fall in (from, to]. */
  private countIn(times: number[], from: number, to: number): number {
    let n = 0;
    for (let i = times.length - 1; i >= 0; i -= 1) {
      const t = times[i] as number;
      if (t <= from) break;
      if (t <= to) n += 1;
    }
    return n;
  }

  /**
   * One more call per window, after `probeWindows` windows without a 429 and only while the pace is
   * what holds calls back (the last window used the limit): the quota may have been raised, or other
   * runs on the project have stopped. A probe a 429 answers doubles the wait for the next one; one
   * that gets through halves it.
   */
  private probeIfDue(now: number): void {
    const learned = this.learned;
    // A floor (not a whole window's count) is doubled after each window without a 429.
    const windows = this.learnedWhole ? this.probeWindows : 1;
    if (!learned || now - this.changedAt < windows * learned.windowMs) return;
    // Only while the pace holds calls back (after a doubling, the last window ran at the old pace).
    if (this.countIn(this.starts, now - learned.windowMs, now) < (this.learnedWhole ? learned.limit - 1 : learned.limit / 2)) return;
    if (this.learnedWhole && this.changedByProbe) this.probeWindows = Math.max(PROBE_MIN_WINDOWS, this.probeWindows / 2);
    this.learned = { ...learned, limit: this.learnedWhole ? learned.limit + 1 : 2 * learned.limit };
    this.changedAt = now;
    this.changedByProbe = true;
    this.applySettings();
  }

  /** A call got through. (The learned pacing learns from 429s, and probes upward on its own schedule.) */
  succeeded(): void {
    // Nothing to learn from a success alone: the quota's limit shows in how many starts a window held when a 429 came.
  }

  /**
   * A 429 of a call sent at `startedAt` (no declared rate): the quota's window held the calls sent in
   * the `windowMs` before it that got through, so that count is the limit (the 429's own figure when
   * it states one). Pacing then spaces starts at window / limit. 429s of calls sent before the last
   * change belong to the same wave: they can only lower the estimate, and never slow the pace twice.
   * The window is the one the 429's quota metric names (per minute…), else the last one learned, else
   * a minute.
   */
  rejected(startedAt: number = this.now(), named: NamedQuota = {}): void {
    if (declaredIntervalMs(this.quota) !== undefined) return;
    const now = this.now();
    this.refusals.push(startedAt);
    if (this.refusals.length > 2 * MAX_REMEMBERED_STARTS) this.refusals.splice(0, this.refusals.length - MAX_REMEMBERED_STARTS);
    const windowMs = named.windowMs ?? this.learned?.windowMs ?? DEFAULT_QUOTA_WINDOW_MS;
    const from = startedAt - windowMs;
    // The calls sent in the window before this one, less those refused (this one among them).
    const counted = this.countIn(this.starts, from, startedAt) - this.countIn(this.refusals, from, startedAt);
    // None of ours got through in the window: it was full of other calls (a run before this one).
    // That says nothing of the limit; the cooldown waits, and a later 429 will count.
    if (named.limit === undefined && counted <= 0) return;
    const estimate = named.limit ?? Math.max(1, counted);
    const sameWave = this.learned !== undefined && startedAt < this.changedAt;
    if (sameWave && this.learned) {
      // The first wave's counts (unpaced calls) only err high: the least is the best. Once paced, a
      // count one short is the window's edge, not news.
      const tolerance = this.firstWave || named.limit !== undefined ? 0 : 1;
      if (estimate < this.learned.limit - tolerance) this.learned = { limit: estimate, windowMs };
    } else {
      this.firstWave = this.learned === undefined;
      const whole = named.limit !== undefined || this.sawWholeWindow(startedAt, windowMs, named.retryAfterMs);
      this.learned = { limit: this.nextLimit(estimate, named.limit !== undefined), windowMs };
      this.learnedWhole = whole;
      this.changedAt = now;
      this.changedByProbe = false;
    }
    this.applySettings();
  }

  /**
   * The limit after a new wave of 429s, from its estimate. A count can be one off at the window's
   * edge (our clock is not Vertex's), so a 429 that answers a probe takes the limit back to the one
   * that held before it (it held for windows), unless the count says clearly less (another run has
   * started on the project). Otherwise the count wins, but never above the learned limit: at the
   * learned pace the window cannot have held more. At the learned pace a 429's window counts one
   * short of the limit (the margin spreads limit + 1 starts over more than the window), so that count
   * lowers the limit only when it comes twice.
   */
  private nextLimit(estimate: number, stated: boolean): number {
    const before = this.learned;
    if (!before || stated) return estimate;
    // A doubled floor answered by a 429: the count, and no less than the floor that held a window.
    if (!this.learnedWhole) return this.changedByProbe ? Math.max(estimate, Math.floor(before.limit / 2)) : estimate;
    if (this.changedByProbe) {
      // The probe is answered: wait longer before the next one.
      this.probeWindows = Math.min(PROBE_MAX_WINDOWS, this.probeWindows * 2);
      const held = Math.max(1, before.limit - 1);
      return estimate >= held - 1 ? held : estimate;
    }
    // At the learned pace: a count one short is the window's edge the first time (arrival jitter on
    // a busy host); a second such 429 within the probe wait means the room really shrank.
    if (estimate >= before.limit - 1) {
      const now = this.now();
      const repeated = this.edgeRefusalAt !== undefined && now - this.edgeRefusalAt < this.probeWindows * before.windowMs;
      this.edgeRefusalAt = repeated ? undefined : now;
      if (!repeated) return before.limit;
    }
    return Math.min(estimate, before.limit);
  }

  /**
   * Whether the window of a 429 of a call sent at `sentAt` held only calls of this limiter: it began
   * after our first start, or (with RetryInfo) its oldest call, the one whose leaving the delay
   * waits for, was sent no earlier than our first start (less a tenth of the window, at most 1 s,
   * for the clocks' skew).
   */
  private sawWholeWindow(sentAt: number, windowMs: number, retryAfterMs: number | undefined): boolean {
    const first = this.firstStartAt;
    if (first === undefined) return false;
    if (sentAt - windowMs >= first) return true;
    if (retryAfterMs === undefined) return false;
    return this.now() + retryAfterMs - windowMs >= first - Math.min(1000, windowMs / 10);
  }

  /** The spacing of the learned quota: like a declared one (window and jitter over the limit). */
  private get learnedIntervalMs(): number | undefined {
    return this.learned === undefined ? undefined : declaredIntervalMs({ requests: this.learned.limit, windowMs: this.learned.windowMs });
  }

  /** The learned spacing, for status and tests. */
  get learnedInterval(): number | undefined {
    return this.learnedIntervalMs;
  }

  /** The learned quota (limit per window), for status and tests. */
  get learnedQuota(): LearnedQuota | undefined {
    return this.learned;
  }

  async stop(): Promise<void> {
    for (const unfollow of this.unfollow.values()) unfollow();
    this.unfollow.clear();
    await Promise.all([this.requests.stop({ dropWaitingJobs: false }), this.tokens?.stop({ dropWaitingJobs: false })]).catch(() => undefined);
  }
}
