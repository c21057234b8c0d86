import Bottleneck from 'bottleneck';
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

/**
 * Spacing between starts that keeps a sliding window under its limit: N + 1 calls must span more
 * than the window even when the first one arrives late, so each gap is (window + jitter) / N.
 */
export function declaredIntervalMs(quota: QuotaLimits): number | undefined {
  const intervals: number[] = [];
  if (quota.rpm !== undefined) intervals.push((60_000 * MARGIN + JITTER_MS) / quota.rpm);
  if (quota.requests !== undefined && quota.windowMs !== undefined) intervals.push((quota.windowMs * MARGIN + JITTER_MS) / quota.requests);
  return intervals.length === 0 ? undefined : Math.max(...intervals);
}

/**
 * The limits of one project for one model, as Bottleneck limiters: start spacing (from `rpm` or
 * `requests`/`window`), `concurrency`, and a tokens-per-minute reservoir reserved with the estimated
 * tokens and corrected after the call. When no rate is declared it is learned from 429s: the
 * limiter paces itself at the rate that got through, and speeds up again while no 429 comes.
 */
export class ModelLimiter {
  private readonly requests: Bottleneck;
  private tokens: Bottleneck | undefined;
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
  ) {
    this.quota = quota;
    this.requests = new Bottleneck(this.requestSettings());
    this.tokens = this.makeTokenLimiter();
  }

  private requestSettings(): Bottleneck.ConstructorOptions {
    const declared = declaredIntervalMs(this.quota);
    const minTime = Math.ceil((declared ?? this.learnedIntervalMs ?? 0) * (this.firstStart ? 2 : 1));
    return { minTime, maxConcurrent: this.quota.concurrency ?? null };
  }

  private makeTokenLimiter(): Bottleneck | undefined {
    const tpm = this.quota.tpm;
    if (tpm === undefined) return undefined;
    return new Bottleneck({ reservoir: tpm, reservoirRefreshAmount: tpm, reservoirRefreshInterval: 60_000 });
  }

  /** New limits from a reloaded credentials file; calls in flight keep their slots. */
  update(quota: QuotaLimits): void {
    const tpmChanged = quota.tpm !== this.quota.tpm;
    this.quota = quota;
    this.requests.updateSettings(this.requestSettings());
    if (tpmChanged) {
      const old = this.tokens;
      this.tokens = this.makeTokenLimiter();
      void old?.stop({ dropWaitingJobs: false });
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
    return this.requests.check();
  }

  queued(): number {
    const counts = this.requests.counts();
    return (counts.RECEIVED ?? 0) + (counts.QUEUED ?? 0);
  }

  /** Waits for a slot; resolves when the call may start. `abandoned` lets a gone caller give it back. */
  acquire(estimatedTokens: number, abandoned: () => boolean): Promise<LimiterSlot | undefined> {
    if (this.unpaced) {
      if (abandoned()) return Promise.resolve(undefined);
      this.recordStart();
      return Promise.resolve({ release: () => undefined });
    }
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
                this.requests.updateSettings(this.requestSettings());
              }
              const tokens = this.tokens;
              const weight = tokens ? Math.min(Math.max(1, Math.round(estimatedTokens)), this.quota.tpm ?? 1) : 0;
              const grant = (): void =>
                resolve({
                  release: (actualTokens?: number) => {
                    // Correct the token reservation with what the call really used.
                    if (tokens && actualTokens !== undefined && actualTokens !== weight) void tokens.incrementReservoir(weight - actualTokens);
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
    this.requests.updateSettings(this.requestSettings());
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
    this.requests.updateSettings(this.requestSettings());
  }

  /** The learned spacing, for status and tests. */
  get learnedInterval(): number | undefined {
    return this.learnedIntervalMs;
  }

  async stop(): Promise<void> {
    await Promise.all([this.requests.stop({ dropWaitingJobs: false }), this.tokens?.stop({ dropWaitingJobs: false })]);
  }
}
