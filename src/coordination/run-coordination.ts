import type { Credentials } from '../credentials/credentials.js';
import type { Coordinator, SharedRun } from './coordinator.js';
import { openCoordinator } from './open-coordinator.js';
import { budgetScope, projectKey, quotaKey } from './quota-key.js';
import type { SecondGuard } from '../estimate/budget.js';
import { SharedBudget, type BudgetAlert } from './shared-budget.js';
import { SpendLog } from './spend-log.js';

/** What a run shares with the others, as metrics and status show it. */
export interface SharedFigures {
  kind: 'local' | 'redis';
  where: string;
  up: boolean;
  /** Other runs going now that use at least one of this run's projects (by project name in this run's credentials file). */
  otherRuns: { job: string; runId: string; host: string; pid: number; projects: string[] }[];
  /** Cooldowns other runs passed on, per project name. */
  cooldownsReceived: Record<string, number>;
  budget?: { dailyUsd: number; spentUsd: number; heldUsd: number };
}

export interface RunCoordinationOptions {
  credentials: Credentials;
  job: { name: string; file: string };
  runId: string;
  env?: NodeJS.ProcessEnv;
  /** Where the shared budget's daily alert goes, if this run has somewhere to send it. */
  onBudgetAlert?: (alert: BudgetAlert) => void | Promise<void>;
}

/** How often the list of other runs is read again (for metrics and the live view). */
const OTHERS_EVERY_MS = 5000;
/** How long a run waits for Redis before its first pass (later, health decides). */
const FIRST_CONNECT_MS = 3000;

/**
 * One run's part in coordination: it joins the list of runs, holds the coordinator the project pool
 * shares limits and cooldowns through, and the shared daily budget when the credentials file has one.
 */
export class RunCoordination {
  /** The credentials file's shared daily budget, when it has one. */
  readonly budget: SharedBudget | undefined;
  /** What stands beside the job's own budget: the shared budget, or else a log of the day's spend (for `cost --all`). */
  readonly spend: SecondGuard;
  private readonly log: SpendLog | undefined;
  private others: SharedRun[] = [];
  private readonly timer: NodeJS.Timeout;

  private constructor(
    readonly coordinator: Coordinator,
    private readonly options: RunCoordinationOptions,
  ) {
    const { credentials, job } = options;
    this.budget = credentials.budget
      ? new SharedBudget({
          backend: coordinator.budget,
          limits: credentials.budget,
          scope: budgetScope(credentials.projects),
          job: job.name,
          credentialsFile: credentials.file,
          ...(options.onBudgetAlert ? { onAlert: options.onBudgetAlert } : {}),
        })
      : undefined;
    this.log = this.budget ? undefined : new SpendLog(coordinator.budget, budgetScope(credentials.projects), job.name);
    this.spend = this.budget ?? (this.log as SpendLog);
    coordinator.join({
      runId: options.runId,
      job: job.name,
      jobFile: job.file,
      projects: [...new Set(credentials.projects.map(projectKey))],
      startedAt: new Date().toISOString(),
    });
    this.timer = setInterval(() => void this.refreshOthers(), OTHERS_EVERY_MS);
    this.timer.unref();
    void this.refreshOthers();
  }

  static async open(options: RunCoordinationOptions): Promise<RunCoordination> {
    const coordinator = await openCoordinator(options.credentials.coordination, options.env);
    // A first connection to Redis takes a moment: waiting for it here spares a "cannot be reached" at every start.
    await coordinator.whenReady?.(FIRST_CONNECT_MS);
    return new RunCoordination(coordinator, options);
  }

  private async refreshOthers(): Promise<void> {
    try {
      this.others = (await this.coordinator.runs()).filter((r) => !r.self && r.runId !== this.options.runId);
    } catch {
      // Unreachable for now: the last list stays.
    }
  }

  figures(credentials: Credentials = this.options.credentials): SharedFigures {
    const names = new Map<string, string[]>();
    for (const p of credentials.projects) names.set(projectKey(p), [...(names.get(projectKey(p)) ?? []), p.name]);
    const otherRuns = this.others
      .map((r) => ({ job: r.job, runId: r.runId, host: r.host, pid: r.pid, projects: r.projects.flatMap((key) => names.get(key) ?? []) }))
      .filter((r) => r.projects.length > 0);
    const cooldownsReceived: Record<string, number> = {};
    const received = this.coordinator.cooldownsReceived();
    for (const p of credentials.projects) {
      for (const [key, n] of received) if (key.startsWith(`${quotaKey(p, '')}`)) cooldownsReceived[p.name] = (cooldownsReceived[p.name] ?? 0) + n;
    }
    return {
      kind: this.coordinator.kind,
      where: this.coordinator.where,
      up: this.coordinator.health().ok,
      otherRuns,
      cooldownsReceived,
      ...(this.budget ? { budget: this.budget.figures() } : {}),
    };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    try {
      await this.budget?.flush();
      await this.log?.close();
      this.coordinator.leave(this.options.runId);
    } finally {
      await this.coordinator.close();
    }
  }
}
