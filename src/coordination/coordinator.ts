import type Bottleneck from 'bottleneck';
import { GenbatchError } from '../errors/genbatch-error.js';

/**
 * What genbatch processes share about the Google Cloud projects they use: the declared limits of each
 * quota key (project, location and model at one endpoint), cooldowns, requests per day, the runs that
 * are going, and daily budgets. One host needs no setup (a shared file); many hosts share through
 * Redis (`coordination:` in the credentials file). The project pool, the limiters and the budget
 * guard talk to this interface only.
 */
export interface Coordinator {
  readonly kind: 'local' | 'redis';
  /** Where: the shared file, or redis://HOST:PORT (never a password). */
  readonly where: string;
  /** This process, as other processes see it. */
  readonly id: string;
  health(): CoordinationHealth;
  /** Resolves once connected (a server), or after `timeoutMs`; then health says why not. */
  whenReady?(timeoutMs: number): Promise<void>;
  /** Aborted the moment coordination is lost (waits give up then); a fresh one once it is back. */
  lostSignal(): AbortSignal;
  onEvent(listener: (event: CoordinationEvent) => void): () => void;

  /** How a limiter for this key shares its limits. */
  limiterHooks(key: string): SharedLimiterHooks;

  /** Whether a process (a cooldown's `by`) is still going: a cooldown left by one that is gone is only a hint. */
  isLive(processId: string): boolean;
  /** The shared cooldown of a key as last seen (never waits). */
  cooldownOf(key: string): SharedCooldown | undefined;
  publishCooldown(cooldown: Pick<SharedCooldown, 'key' | 'model' | 'until' | 'reason' | 'perDay'>): void;
  /** A call started at `startedAt` succeeded: a cooldown recorded before it is over for everyone. */
  clearCooldown(key: string, startedAt: number): void;

  /** Counts one request of the day if it stays within `rpd` (`floor`: requests known from this job's ledger). */
  countRequest(key: string, rpd: number, resetAt: number, floor: number): Promise<boolean>;
  /** Requests of the day (the day that ends at `resetAt`) for a key as last seen (never waits). */
  requestsToday(key: string, resetAt: number): number;

  join(run: SharedRunInfo): void;
  leave(runId: string): void;
  /** Runs going now (this process's too, marked `self`). */
  runs(): Promise<SharedRun[]>;

  readonly budget: SharedBudgetBackend;
  /** The shared-capacity windows: one per endpoint, location and model, that every run here paces its calls with. */
  readonly windows: SharedWindows;
  /** How many cooldowns other runs have passed on, per key. */
  cooldownsReceived(): ReadonlyMap<string, number>;
  close(): Promise<void>;
}

export type CoordinationHealth = { ok: true } | { ok: false; since: number; reason: string };

export interface SharedCooldown {
  key: string;
  model: string;
  until: number;
  reason: string;
  perDay: boolean;
  /** When it was recorded, and by which process. */
  at: number;
  by: string;
  /** A call started after it succeeded: the quota is back. */
  cleared: boolean;
}

export type CoordinationEvent = { kind: 'health'; health: CoordinationHealth } | { kind: 'cooldown'; cooldown: SharedCooldown };

/** What one call asks of a shared gate (this host): the gap after its start, and the limits. */
export interface GateRequest {
  /** The gap after this start while this process is alone on the key, and while others take turns too. */
  gapMs: number;
  sharedGapMs: number;
  concurrency?: number;
  tpm?: number;
  tokens: number;
}

export type GateTurn =
  | { ok: true; startAt: number; gapMs: number; leaseId: number | undefined; tokens: number; tokensWindow: number }
  | { ok: false; retryAt: number; why: 'concurrency' | 'tokens' };

/** The declared limits of one quota key, shared by every process on this host. */
export interface SharedGate {
  /** The gate's clock (`startAt`, `retryAt` and `startedLate` are on it): the same for every process sharing the gate. */
  now(): number;
  take(request: GateRequest): GateTurn;
  ready(request: Omit<GateRequest, 'tokens' | 'gapMs' | 'sharedGapMs'>): boolean;
  end(turn: Extract<GateTurn, { ok: true }>, actualTokens?: number): void;
  /** A call left later than its slot: no later slot may start before `nextAt`. */
  startedLate(nextAt: number): void;
}

/** How one limiter shares its limits: through Bottleneck's Redis clustering, or a gate on this host. */
export interface SharedLimiterHooks {
  /** Bottleneck options that make a limiter clustered (Redis) under the key, plus `suffix`. */
  clustered?: (suffix: string) => Bottleneck.ConstructorOptions;
  gate?: SharedGate;
  /** Aborted when coordination is lost: a Redis round trip must not hang then. */
  lostSignal?: () => AbortSignal;
}

export interface SharedRunInfo {
  runId: string;
  job: string;
  jobFile: string;
  /** The Google Cloud projects it uses, as `projectKey` writes them. */
  projects: string[];
  startedAt: string;
}

export interface SharedRun extends SharedRunInfo {
  host: string;
  pid: number;
  self: boolean;
}

export interface BudgetTotals {
  spentNano: number;
  heldNano: number;
}

export interface BudgetHold {
  id: string;
  nano: number;
  day: string;
}

export interface BudgetDay extends BudgetTotals {
  day: string;
  rows: { job: string; project: string; nano: number; calls: number }[];
}

/** The store of shared daily budgets: holds, settled spend per job and project, the daily alert. */
export interface SharedBudgetBackend {
  reserve(scope: string, day: string, capNano: number, nano: number, job: string, force: boolean): Promise<BudgetTotals & { hold: BudgetHold | undefined }>;
  /** Replaces a hold by what its call cost; `project` undefined: released without a call (nothing booked, no call counted). */
  settle(scope: string, hold: BudgetHold, job: string, project: string | undefined, actualNano: number): Promise<BudgetTotals>;
  /** Adds spend made without holds (a file with no `budget:`), per job and project. */
  record(scope: string, day: string, job: string, rows: readonly { project: string; nano: number; calls: number }[]): Promise<void>;
  day(scope: string, day: string): Promise<BudgetDay>;
  /** True for the first caller of the day only. */
  claimAlert(scope: string, day: string): Promise<boolean>;
}

/**
 * Where the shared-capacity windows live (the window itself, its state and rules, is the
 * resilience layer's; here it is an opaque text). Each change reads, changes and writes a window in
 * one atomic step, so that runs on this host or on other hosts take places in it in turn.
 */
export interface SharedWindows {
  /** Reads the window's state (undefined: none yet), lets `change` make the next one, writes it; returns what `change` returned. */
  change<T>(key: string, change: (state: string | undefined) => { state: string; result: T }): Promise<T>;
  /** The window's state as last seen: never waits (a fresher read may follow). */
  peek(key: string): string | undefined;
  /** Every window changed since `since`, for a person (`status`). */
  all(since: number): Promise<{ key: string; state: string }[]>;
}

/** Money in shared stores is counted in whole nano-dollars, so that sums are exact. */
export const NANO = 1e9;

/** Coordination is needed and cannot be reached: nothing is sent meanwhile (never unshared limits). */
export class CoordinationLostError extends GenbatchError {
  constructor(where: string, reason: string) {
    super(`The coordination server ${where} cannot be reached (${reason}).`, {
      code: 'COORDINATION_UNREACHABLE',
      retryable: true,
      exitCode: 75,
      hint: 'genbatch waits for it and sends nothing meanwhile (limits.max_stall bounds the wait); start Redis again, or remove coordination: from the credentials file to share limits on this host only.',
    });
  }
}

/** The last day utcDay gave, and the moments it spans: asked on every call, it is almost always the same day. */
let lastDay = { from: 0, to: 0, day: '' };

/** The UTC day of a moment, as budgets count days (budget.daily_usd of job files counts the same way). */
export function utcDay(ms: number): string {
  if (ms >= lastDay.from && ms < lastDay.to) return lastDay.day;
  const from = Math.floor(ms / 86_400_000) * 86_400_000;
  lastDay = { from, to: from + 86_400_000, day: new Date(ms).toISOString().slice(0, 10) };
  return lastDay.day;
}
