import { setTimeout as sleep } from 'node:timers/promises';
import Bottleneck from 'bottleneck';
import type { GateTurn, SharedGate, SharedLimiterHooks } from '../coordination/coordinator.js';
import { whenAborted } from '../resilience/backoff.js';
import type { QuotaLimits } from './credentials.js';

/** A slot taken from a limiter; `release` when the call has ended (exactly once). */
export interface LimiterSlot {
  release(actualTokens?: number): void;
}

/** Relative margin on the window, and the arrival jitter (ms) between our start and Vertex's clock. */
const MARGIN = 1.01;
const JITTER_MS = 15;
/** Learned pacing: each success shortens the gap a little, each 429 wave lengthens it. */
const SPEED_UP = 0.98;
const SLOW_DOWN = 1.25;
const MIN_LEARNED_MS = 5;
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

/**
 * The limits of one project for one model, as Bottleneck limiters: start spacing (from `rpm` or
 * `requests`/`window`), `concurrency`, and a tokens-per-minute reservoir reserved with the estimated
 * tokens and corrected after the call. When no rate is declared it is learned from 429s: the
 * limiter paces itself at the rate that got through, and speeds up again while no 429 comes.
 *
 * Declared limits are shared with every other genbatch process using the same project and model
 * (`shared`): on this host through a gate in the shared file, or across hosts through Bottleneck's
 * Redis clustering (the same limiter id everywhere). Without declared limits nothing is shared.
 */
export class ModelLimiter {
  private requests: Bottleneck;
  private requestsClustered: boolean;
  private tokens: Bottleneck | undefined;
  /** Calls of this process waiting at the shared gate, and how to wake those waiting for a place to free. */
  private gateWaiting = 0;
  private readonly gateReleases = new Set<() => void>();
  private quota: QuotaLimits;
  private learnedIntervalMs: number | undefined;
  private recentStarts: number[] = [];
  private lastSlowDownAt = 0;
  /**
   * The first call of a connection is slow (connection set-up); if it reaches Vertex late, a
   * window starting at it would see one call too many. So the gap after it is doubled.
   */
  private firstStart = true;

  constructor(
    quota: QuotaLimits,
    private readonly now: () => number = Date.now,
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
    if (!this.requestsClustered || !this.shared?.clustered) return new Bottleneck(this.requestSettings());
    const limiter = new Bottleneck({ ...this.requestSettings(), ...this.shared.clustered('') });
    // Redis errors surface where they matter (a schedule that fails, the coordinator's health); not as events.
    limiter.on('error', () => undefined);
    // A process joining later brings the limits of its own credentials file (a raised quota takes effect).
    this.applySettings(limiter);
    return limiter;
  }

  private makeTokenLimiter(): Bottleneck | undefined {
    const tpm = this.quota.tpm;
    if (tpm === undefined) return undefined;
    const settings = { reservoir: tpm, reservoirRefreshAmount: tpm, reservoirRefreshInterval: 60_000 };
    if (this.sharing !== 'clustered' || !this.shared?.clustered) return new Bottleneck(settings);
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
      void old.stop({ dropWaitingJobs: false }).catch(() => undefined);
    } else this.applySettings();
    if (tpmChanged || wasClustered !== this.requestsClustered) {
      const old = this.tokens;
      this.tokens = this.makeTokenLimiter();
      void old?.stop({ dropWaitingJobs: false }).catch(() => undefined);
    }
  }

  /**
   * Nothing to pace: no declared rate, concurrency or tokens, and nothing learned yet. Calls then
   * skip Bottleneck entirely (its scheduling costs more than a zero-latency call).
   */
  private get unpaced(): boolean {
    return (
      declaredIntervalMs(this.quota) === undefined && this.learnedIntervalMs === undefined && this.quota.concurrency === undefined && this.tokens === undefined
    );
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
      this.recordStart();
      return Promise.resolve({ release: () => undefined });
    }
    const gate = this.sharing === 'gate' ? this.shared?.gate : undefined;
    if (gate) return this.acquireAtGate(gate, estimatedTokens, abandoned);
    return new Promise((resolve, reject) => {
      this.requests
        .schedule(
          () =>
            new Promise<void>((releaseRequest) => {
              if (abandoned()) {
                resolve(undefined);
                releaseRequest();
                return;
              }
              this.recordStart();
              if (this.firstStart) {
                this.firstStart = false;
                if (!this.requestsClustered) this.applySettings();
                else this.cushionFirstStart();
              }
              const tokens = this.tokens;
              const weight = tokens ? Math.min(Math.max(1, Math.round(estimatedTokens)), this.quota.tpm ?? 1) : 0;
              const grant = (): void =>
                resolve({
                  release: (actualTokens?: number) => {
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
            }),
        )
        .catch((error: unknown) => reject(error instanceof Error ? error : new Error(String(error))));
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
          await sleep(Math.max(1, Math.min(GATE_POLL_MS, turn.retryAt - this.now())), undefined, { signal: wake.signal }).catch(() => undefined);
          this.gateReleases.delete(waiter);
          continue;
        }
        this.firstStart = false;
        // Timers do not fire in less than a millisecond: a start due within one goes now.
        const wait = turn.startAt - this.now();
        if (wait >= 1) await sleep(wait);
        if (abandoned()) {
          // The start itself is spent; the place in flight and the tokens go back.
          gate.end(turn, 0);
          for (const wake of [...this.gateReleases]) wake();
          return undefined;
        }
        // Woken late (a busy event loop): the next slot keeps its gap from this real start.
        const late = this.now() - turn.startAt;
        if (late > LATE_MS && turn.gapMs > 0) gate.startedLate(this.now() + turn.gapMs);
        this.recordStart();
        let released = false;
        return {
          release: (actualTokens?: number) => {
            if (released) return;
            released = true;
            gate.end(turn, actualTokens);
            for (const wake of [...this.gateReleases]) wake();
          },
        };
      }
    } finally {
      this.gateWaiting -= 1;
    }
  }

  /** Recent starts, from which a learned rate begins after the first 429. */
  private recordStart(): void {
    this.recentStarts.push(this.now());
    if (this.recentStarts.length > 20) this.recentStarts.shift();
  }

  /**
   * A call got through. With a learned rate (no declared one), speed up a little on every success:
   * additive increase, multiplicative decrease, so the pace settles just under the real quota.
   */
  succeeded(): void {
    if (declaredIntervalMs(this.quota) !== undefined || this.learnedIntervalMs === undefined) return;
    this.learnedIntervalMs *= SPEED_UP;
    this.applySettings();
  }

  /**
   * A 429 on this model: slow down (once per wave: calls that were already on the wire when the
   * previous 429 came do not count again). The first one starts from the spacing of recent starts.
   */
  rejected(startedAt: number = this.now()): void {
    if (declaredIntervalMs(this.quota) !== undefined) return;
    if (startedAt < this.lastSlowDownAt) return;
    this.lastSlowDownAt = this.now();
    const observed = this.recentStarts.length >= 2 ? ((this.recentStarts.at(-1) ?? 0) - (this.recentStarts[0] ?? 0)) / (this.recentStarts.length - 1) : 0;
    this.learnedIntervalMs = Math.max(MIN_LEARNED_MS, (this.learnedIntervalMs ?? observed) * SLOW_DOWN);
    this.applySettings();
  }

  /** The learned spacing, for status and tests. */
  get learnedInterval(): number | undefined {
    return this.learnedIntervalMs;
  }

  async stop(): Promise<void> {
    await Promise.all([this.requests.stop({ dropWaitingJobs: false }), this.tokens?.stop({ dropWaitingJobs: false })]).catch(() => undefined);
  }
}
