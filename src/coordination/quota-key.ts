import { createHash } from 'node:crypto';

/** Where a project's calls go: its endpoint (Vertex AI itself when none) and its Google Cloud project id. */
export interface ProjectIdentity {
  project: string;
  location: string;
  endpoint?: string;
}

/**
 * A Google Cloud project as every run names it, whatever the entry's `name` in a credentials file:
 * the endpoint (another emulator is another quota holder) and the project id.
 */
export function projectKey(p: Pick<ProjectIdentity, 'project' | 'endpoint'>): string {
  return `${p.endpoint === undefined ? 'vertex' : p.endpoint.replace(/\/+$/, '')}|${p.project}`;
}

/** Vertex quotas are per project, region and base model: the key every process shares limits and cooldowns under. */
export function quotaKey(p: ProjectIdentity, model: string): string {
  return `${projectKey(p)}|${p.location}|${model}`;
}

/**
 * The shared budget of a credentials file is keyed by the projects it spends on, not by the file's
 * path: copies of one file on several hosts (or under several paths) share one budget, and the
 * failure mode of a mismatch is spending less, never more.
 */
export function budgetScope(projects: readonly Pick<ProjectIdentity, 'project' | 'endpoint'>[]): string {
  const keys = [...new Set(projects.map(projectKey))].sort();
  return createHash('sha256').update(keys.join('\n')).digest('hex').slice(0, 16);
}
