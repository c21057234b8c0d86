/** Why one lane (a pool and model) cannot take a call right now. */
export interface BlockedLane {
  key: string;
  /** When this lane was first seen blocked since it last made progress. */
  since: number;
  /** When a project is expected back for it (undefined: unknown, e.g. a probe is out). */
  expectedBackAt: number | undefined;
  reason: string;
  /** Every project for it is out of its per-day quota: `expectedBackAt` is the daily reset. */
  daily?: boolean;
}

/**
 * Tells a stalled run from a slow one. Each lane (pool and model) reports when it is blocked and
 * when it made progress; the run is stalled only when every lane with work left is blocked and
 * nothing has progressed for `maxStallMs`. One lane that cannot be served never stalls a run that
 * another lane is still moving.
 */
export class StallWatch {
  private readonly blocked = new Map<string, BlockedLane>();
  /** Start of the current episode in which no lane with work could take a call. */
  private episodeStart: number | undefined;

  constructor(
    private readonly maxStallMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The lane cannot take a call; its `since` is kept across repeated reports. `daily`: it waits on a daily reset. */
  block(key: string, expectedBackAt: number | undefined, reason: string, daily = false): void {
    const current = this.blocked.get(key);
    this.blocked.set(key, { key, since: current?.since ?? this.now(), expectedBackAt, reason, ...(daily ? { daily } : {}) });
  }

  /** The lane has a project ready again (it is no longer waiting, though it has not yet succeeded). */
  unblock(key: string): void {
    this.blocked.delete(key);
  }

  isBlocked(key: string): boolean {
    return this.blocked.has(key);
  }

  /** A unit was resolved (done, failed, filtered): the run is moving. */
  progressed(key?: string): void {
    if (key !== undefined) this.blocked.delete(key);
    this.episodeStart = undefined;
  }

  /**
   * Called by the scheduler after each dispatch round: whether every lane with work is blocked and
   * nothing is in flight. An episode, once begun, lasts until something progresses: a probe that is
   * refused again does not restart the clock.
   */
  observe(nothingCanMove: boolean): void {
    if (nothingCanMove) this.episodeStart ??= this.now();
  }

  /** How long nothing could move (0 when something can). */
  stalledForMs(): number {
    return this.episodeStart === undefined ? 0 : this.now() - this.episodeStart;
  }

  expired(): boolean {
    return this.episodeStart !== undefined && this.stalledForMs() >= this.maxStallMs;
  }

  /** How long until the current episode becomes a stall (in the watch's own clock; undefined: no episode). */
  remainingMs(): number | undefined {
    return this.episodeStart === undefined ? undefined : Math.max(0, this.maxStallMs - this.stalledForMs());
  }

  /** When the current episode becomes a stall, for the scheduler's wake-up. */
  deadline(): number | undefined {
    return this.episodeStart === undefined ? undefined : this.episodeStart + this.maxStallMs;
  }

  lanes(): BlockedLane[] {
    return [...this.blocked.values()];
  }
}
