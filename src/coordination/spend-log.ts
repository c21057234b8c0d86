import type { GenbatchError } from '../errors/genbatch-error.js';
import type { Reservation, SecondGuard } from '../estimate/budget.js';
import { NANO, utcDay, type SharedBudgetBackend } from './coordinator.js';

/** Spend is written to the shared store at most this often (and when the run ends). */
const FLUSH_EVERY_MS = 2000;

/**
 * The day's spend per job and project, for `genbatch cost --all` when the credentials file has no
 * shared `budget:` (with one, SharedBudget books every call as it settles). Never refuses a call;
 * adds up in memory and writes a few times a minute, so it costs next to nothing per call.
 */
export class SpendLog implements SecondGuard {
  private readonly rows = new Map<string, { day: string; project: string; nano: number; calls: number }>();
  private readonly timer: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly backend: SharedBudgetBackend,
    private readonly scope: string,
    private readonly job: string,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  reserve(usd: number): Promise<Reservation> {
    return Promise.resolve({ usd });
  }

  hold(usd: number): Reservation {
    return { usd };
  }

  get holding(): boolean {
    return false;
  }

  settle(reservation: Reservation, actualUsd: number, project?: string): void {
    void reservation;
    const day = utcDay(this.now());
    const key = `${day}\n${project ?? 'unknown'}`;
    const row = this.rows.get(key) ?? { day, project: project ?? 'unknown', nano: 0, calls: 0 };
    row.nano += Math.round(actualUsd * NANO);
    row.calls += 1;
    this.rows.set(key, row);
  }

  /** Never asked: this log refuses nothing. */
  stopError(): GenbatchError {
    throw new Error('SpendLog never refuses a call');
  }

  /** Writes what was added since the last write (one write per day touched). */
  flush(): Promise<void> {
    if (this.rows.size === 0) return this.writing;
    const rows = [...this.rows.values()];
    this.rows.clear();
    const days = new Set(rows.map((r) => r.day));
    this.writing = this.writing.then(async () => {
      for (const day of days) {
        await this.backend
          .record(
            this.scope,
            day,
            this.job,
            rows.filter((r) => r.day === day),
          )
          .catch(() => undefined);
      }
    });
    return this.writing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
