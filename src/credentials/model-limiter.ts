import Bottleneck from 'bottleneck';
import type { QuotaLimits } from './credentials.js';

/** A slot taken from a limiter; `release` when the call has ended (exactly once). */
export interface LimiterSlot {
  release(actualTokens?: number): void;
}

/** Relative margin on the window, and the arrival jitter (ms) between our start and Vertex's clock. */
const MARGIN = 1.02;
const JITTER_MS = 20;

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
  private episodeSuccesses: number[] = [];
  private inEpisode = false;
  private last429At = 0;
  private lastSpeedUpAt = 0;

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
    const minTime = Math.ceil(declared ?? this.learnedIntervalMs ?? 0);
    // While a rate is being learned, one call at a time: each 429 then costs one call, not a flood.
    const learning = declared === undefined && this.inEpisode && this.learnedIntervalMs === undefined;
    return { minTime, maxConcurrent: learning ? 1 : (this.quota.concurrency ?? null) };
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

  /** Whether a call could start right now without waiting. */
  async ready(): Promise<boolean> {
    return this.requests.check();
  }

  queued(): number {
    const counts = this.requests.counts();
    return (counts.RECEIVED ?? 0) + (counts.QUEUED ?? 0);
  }

  /** Waits for a slot; resolves when the call may start. `abandoned` lets a gone caller give it back. */
  acquire(estimatedTokens: number, abandoned: () => boolean): Promise<LimiterSlot | undefined> {
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
              tokens.schedule({ weight }, async () => undefined).then(grant, (error: unknown) => {
                releaseRequest();
                reject(error instanceof Error ? error : new Error(String(error)));
              });
            }),
        )
        .catch((error: unknown) => reject(error instanceof Error ? error : new Error(String(error))));
    });
  }

  /** A call got through: evidence for the learned rate, and slow speed-up when 429s have stopped. */
  succeeded(): void {
    if (declaredIntervalMs(this.quota) !== undefined) return;
    const now = this.now();
    if (this.inEpisode) {
      this.episodeSuccesses.push(now);
      if (this.episodeSuccesses.length > 400) this.episodeSuccesses.shift();
      const first = this.episodeSuccesses[0] ?? now;
      if (this.episodeSuccesses.length >= 4) {
        // The rate that gets through while saturated is the quota's rate.
        this.learnedIntervalMs = (now - first) / (this.episodeSuccesses.length - 1);
        this.requests.updateSettings(this.requestSettings());
      }
    }
    if (this.learnedIntervalMs !== undefined && now - this.last429At > 30_000 && now - this.lastSpeedUpAt > 10_000) {
      // No 429 for a while: the quota may have been raised, or the estimate was cautious. Speed up a little.
      this.learnedIntervalMs *= 0.9;
      this.lastSpeedUpAt = now;
      this.requests.updateSettings(this.requestSettings());
    }
  }

  /** A 429 on this model: start (or continue) learning its rate when none is declared. */
  rejected(): void {
    const now = this.now();
    this.last429At = now;
    if (declaredIntervalMs(this.quota) !== undefined) return;
    if (!this.inEpisode) {
      this.inEpisode = true;
      this.episodeSuccesses = [];
    } else if (this.learnedIntervalMs !== undefined) {
      // Still too fast: back off a little on top of the measured rate.
      this.learnedIntervalMs *= 1.05;
    }
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
