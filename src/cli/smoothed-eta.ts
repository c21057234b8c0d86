/**
 * An ETA a person can read: the rate is an exponentially weighted average of the completions (time
 * constant `tauMs`), so one slow call or a burst does not swing it; and the shown ETA counts down
 * on its own, drifting towards each new estimate over `settleMs` instead of jumping to it (unless
 * the pace changed by half or more). No more "35 s, 1 m 30 s, 40 s" on every redraw.
 */
export class SmoothedEta {
  private rate: number | undefined;
  private lastAt: number | undefined;
  private lastDone = 0;
  private startedAt: number | undefined;
  private shownMs: number | undefined;
  private shownAt = 0;

  constructor(
    private readonly tauMs = 20_000,
    private readonly settleMs = 5_000,
  ) {}

  /** `done` so far at `now`; call on every completion or redraw tick. */
  observe(done: number, now: number): void {
    this.startedAt ??= now;
    if (this.lastAt === undefined) {
      this.lastAt = now;
      this.lastDone = done;
      return;
    }
    const dt = now - this.lastAt;
    if (dt < 250) return; // too short a window to mean anything
    const instant = (done - this.lastDone) / dt;
    const elapsed = now - this.startedAt;
    // Until there is a full time constant of history, the plain average so far is steadier.
    if (this.rate === undefined || elapsed < this.tauMs) this.rate = elapsed > 0 && done > 0 ? done / elapsed : undefined;
    else this.rate += (1 - Math.exp(-dt / this.tauMs)) * (instant - this.rate);
    this.lastAt = now;
    this.lastDone = done;
  }

  /** Milliseconds left for `remaining` more, or undefined while the rate is unknown. */
  etaMs(remaining: number, now: number): number | undefined {
    if (remaining <= 0) return 0;
    const countdown = this.shownMs === undefined ? undefined : Math.max(0, this.shownMs - (now - this.shownAt));
    if (this.rate === undefined || this.rate <= 0) return countdown;
    const fresh = remaining / this.rate;
    if (countdown === undefined || fresh > 2 * countdown + 10_000 || fresh < countdown / 2 - 10_000) {
      // First estimate, or the pace changed for real (a quota wall, a cooldown ending): show it at once.
      this.shownMs = fresh;
    } else {
      // Else the countdown drifts towards the new estimate over a few seconds, never jumping.
      this.shownMs = countdown + (1 - Math.exp(-(now - this.shownAt) / this.settleMs)) * (fresh - countdown);
    }
    this.shownAt = now;
    return this.shownMs;
  }
}

/** An ETA rounded as a person reads it: "12s", "35s", "1m30s", "14m", "2h05m". */
export function formatEta(ms: number | undefined): string {
  if (ms === undefined) return '?';
  const s = Math.round(ms / 1000);
  if (s < 10) return `${s}s`;
  if (s < 60) return `${Math.round(s / 5) * 5}s`;
  if (s < 600) {
    const rounded = Math.round(s / 15) * 15;
    return `${Math.floor(rounded / 60)}m${String(rounded % 60).padStart(2, '0')}s`;
  }
  const m = Math.round(s / 60);
  return m < 60 ? `${m}m` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
