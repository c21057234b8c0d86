import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Credentials } from '../credentials/credentials.js';
import { GenbatchError } from '../errors/genbatch-error.js';
import { CoordinationStore } from '../store/coordination-store.js';
import { CoordinationLostError, type BudgetDay, type SharedRun } from './coordinator.js';
import type { RedisCoordinator } from './redis-coordinator.js';
import { budgetScope, projectKey, windowModelAt } from './quota-key.js';
import { sharedFile } from './shared-dir.js';
import { processAlive } from '../store/process-alive.js';
import { windowSnapshot, type WindowSnapshot, type WindowState } from '../resilience/adaptive-window.js';

/** How long `status` and `cost --all` wait for Redis before saying it cannot be reached. */
const CONNECT_MS = 2000;
/** A run whose process was not seen for this long is gone (as the coordinators judge it). */
const STALE_MS = 30_000;

export interface SharedView {
  kind: 'local' | 'redis';
  where: string;
}

/**
 * Reads what runs share, for a person (`status`, `cost --all`), without joining: this host's shared
 * file if there is one (nothing is created), or Redis with `coordination:`.
 */
async function withShared<T>(
  credentials: Credentials,
  env: NodeJS.ProcessEnv,
  read: { local: (store: CoordinationStore | undefined) => T; redis: (coordinator: RedisCoordinator) => Promise<T> },
): Promise<SharedView & { value: T }> {
  const target = credentials.coordination;
  if (target) {
    const { RedisCoordinator } = await import('./redis-coordinator.js');
    const coordinator = new RedisCoordinator(target.url, target.display);
    try {
      await coordinator.whenReady(CONNECT_MS);
      const health = coordinator.health();
      if (!health.ok) throw new CoordinationLostError(target.display, health.reason);
      return { kind: 'redis', where: target.display, value: await read.redis(coordinator) };
    } catch (error) {
      if (!(error instanceof CoordinationLostError)) throw error;
      // A report, not a run: nothing waits for Redis here.
      throw new GenbatchError(error.message, {
        code: error.code,
        exitCode: 1,
        hint: `Check that Redis is running at ${target.display} (coordination: in ${credentials.file}).`,
        cause: error,
      });
    } finally {
      await coordinator.close();
    }
  }
  const file = sharedFile(env);
  if (!existsSync(file)) return { kind: 'local', where: file, value: read.local(undefined) };
  const store = CoordinationStore.open(file);
  try {
    return { kind: 'local', where: file, value: read.local(store) };
  } finally {
    store.close();
  }
}

/** Runs going now that use at least one of the credentials' Google Cloud projects. */
export async function runsSharing(credentials: Credentials, env: NodeJS.ProcessEnv = process.env): Promise<SharedView & { runs: SharedRun[] }> {
  const mine = new Set(credentials.projects.map(projectKey));
  const host = hostname();
  const view = await withShared<SharedRun[]>(credentials, env, {
    local: (store) =>
      (store?.runs(Date.now(), STALE_MS) ?? [])
        .filter((r) => r.host !== host || processAlive(r.pid))
        .map((r) => ({ runId: r.runId, job: r.job, jobFile: r.jobFile, projects: r.projects, startedAt: r.startedAt, host: r.host, pid: r.pid, self: false })),
    redis: (coordinator) => coordinator.runs(),
  });
  return { kind: view.kind, where: view.where, runs: view.value.filter((r) => r.projects.some((p) => mine.has(p))) };
}

/** The day's spend of every job using the credentials file (the same projects), per job and project. */
export async function sharedSpend(credentials: Credentials, day: string, env: NodeJS.ProcessEnv = process.env): Promise<SharedView & { spend: BudgetDay }> {
  const scope = budgetScope(credentials.projects);
  const view = await withShared<BudgetDay>(credentials, env, {
    local: (store) => ({ day, ...(store?.budgetDay(scope, day) ?? { spentNano: 0, heldNano: 0, rows: [] }) }),
    redis: (coordinator) => coordinator.budget.day(scope, day),
  });
  return { kind: view.kind, where: view.where, spend: view.value };
}

/** The shared-capacity window of a model at a location, as every run using it sees it now. */
export interface SharedWindowView extends WindowSnapshot {
  model: string;
  location: string;
  updatedAt: number;
}

/** A window not changed for this long is not shown (the next run starts it afresh). */
const WINDOW_SHOWN_MS = 10 * 60_000;

/** The shared-capacity windows (per model and location) at the credentials' endpoints and locations, changed in the last 10 minutes. */
export async function sharedWindows(credentials: Credentials, env: NodeJS.ProcessEnv = process.env): Promise<SharedView & { windows: SharedWindowView[] }> {
  const now = Date.now();
  const since = now - WINDOW_SHOWN_MS;
  const view = await withShared<{ key: string; state: string }[]>(credentials, env, {
    local: (store) => store?.windows(since) ?? [],
    redis: (coordinator) => coordinator.windows.all(since),
  });
  const windows: SharedWindowView[] = [];
  for (const { key, state } of view.value) {
    const at = credentials.projects.map((p) => ({ location: p.location, model: windowModelAt(key, p) })).find((w) => w.model !== undefined);
    if (!at?.model) continue;
    try {
      const window = JSON.parse(state) as WindowState;
      windows.push({ model: at.model, location: at.location, updatedAt: window.updatedAt, ...windowSnapshot(window, now) });
    } catch {
      // A window written by another version: not shown.
    }
  }
  return { kind: view.kind, where: view.where, windows };
}
