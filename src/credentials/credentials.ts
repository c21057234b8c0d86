/** Compiled credentials: one entry per project, with exactly one way to authenticate. */

export type ProjectAuth =
  { kind: 'key_file'; keyFile: string } | { kind: 'api_key'; apiKey: string; source: 'file' | 'env'; envName?: string } | { kind: 'adc' };

export interface QuotaLimits {
  rpm?: number;
  requests?: number;
  windowMs?: number;
  rpd?: number;
  tpm?: number;
  concurrency?: number;
}

export interface ProjectCredentials {
  /** Name used in logs, status and the state file (never a secret). */
  name: string;
  project: string;
  location: string;
  auth: ProjectAuth;
  endpoint?: string;
  /** Per model name, plus `default`. */
  quotas: Record<string, QuotaLimits>;
  pool: string;
  enabled: boolean;
}

export type Strategy = 'round-robin' | 'fill-first' | 'least-loaded';

export interface Credentials {
  file: string;
  strategy: Strategy;
  projects: ProjectCredentials[];
  emulator?: Record<string, unknown>;
}

/** The limits that apply to a model on a project: the model's own entry, else `default`. */
export function quotaFor(project: ProjectCredentials, model: string): QuotaLimits {
  return project.quotas[model] ?? project.quotas.default ?? {};
}
