import { createHash } from 'node:crypto';

/** Where a project's calls go: its endpoint (Vertex AI itself when none) and its Google Cloud project id. */
export interface ProjectIdentity {
  project: string;
  location: string;
  endpoint?: string;
  api?: 'vertex' | 'gemini';
  auth?: { kind: string; apiKey?: string };
}

/**
 * A Google Cloud project as every run names it, whatever the entry's `name` in a credentials file:
 * the endpoint (another emulator is another quota holder) and the project id.
 */
export function projectKey(p: Pick<ProjectIdentity, 'project' | 'endpoint' | 'api' | 'auth'>): string {
  const where = p.endpoint === undefined ? (p.api === 'gemini' ? 'gemini' : 'vertex') : p.endpoint.replace(/\/+$/, '');
  // A Gemini API key's quota belongs to the key (its AI Studio project), whatever label the entry
  // gives it: keyed by a hash of the key, never the key itself.
  if (p.api === 'gemini' && p.auth?.apiKey !== undefined) return `${where}|key:${createHash('sha256').update(p.auth.apiKey).digest('hex').slice(0, 16)}`;
  return `${where}|${p.project}`;
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
export function budgetScope(projects: readonly Pick<ProjectIdentity, 'project' | 'endpoint' | 'api' | 'auth'>[]): string {
  const keys = [...new Set(projects.map(projectKey))].sort();
  return createHash('sha256').update(keys.join('\n')).digest('hex').slice(0, 16);
}

/** Where shared capacity is counted: the endpoint (Vertex AI itself when none) and the location, whatever the project. */
function windowPlace(p: Pick<ProjectIdentity, 'endpoint' | 'location'>): [string, string] {
  return [p.endpoint === undefined ? 'vertex' : p.endpoint.replace(/\/+$/, ''), p.location];
}

/** Vertex's dynamic shared quota belongs to the model and location: the key of the one window every run paces them with. */
export function windowKey(p: Pick<ProjectIdentity, 'endpoint' | 'location'>, model: string): string {
  return JSON.stringify([...windowPlace(p), model]);
}

/** Whether a window's key is of the project's endpoint and location, and for which model. */
export function windowModelAt(key: string, p: Pick<ProjectIdentity, 'endpoint' | 'location'>): string | undefined {
  try {
    const [endpoint, location, model] = JSON.parse(key) as unknown[];
    const [wantEndpoint, wantLocation] = windowPlace(p);
    return endpoint === wantEndpoint && location === wantLocation && typeof model === 'string' ? model : undefined;
  } catch {
    return undefined;
  }
}
