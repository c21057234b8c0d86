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
  /** `quota: shared | fixed` for this model (else the entry's, else inferred). */
  kind?: 'shared' | 'fixed';
}

export interface ProjectCredentials {
  /** Name used in logs, status and the state file (never a secret). */
  name: string;
  /** vertex (the default when absent): a Vertex AI project; gemini: a Gemini API (AI Studio) key, same SDK with `vertexai: false`. */
  api?: ProjectApi;
  /** The Google Cloud project id; for a Gemini API key, a label for it (the entry's name unless given). */
  project: string;
  location: string;
  auth: ProjectAuth;
  endpoint?: string;
  /** Per model name, plus `default`. */
  quotas: Record<string, QuotaLimits>;
  /** `quota: shared | fixed` on the entry (else inferred per model). */
  quotaKind?: 'shared' | 'fixed';
  pool: string;
  enabled: boolean;
  /** gs://BUCKET[/PREFIX] for batch prediction staging, when the job names none. */
  stagingBucket?: string;
}

export type ProjectApi = 'vertex' | 'gemini';

export type Strategy = 'round-robin' | 'fill-first' | 'least-loaded';

/** Where runs on many hosts share limits, cooldowns and budgets (`coordination:`). */
export interface CoordinationTarget {
  kind: 'redis';
  /** As written, password included: only for connecting, never for messages. */
  url: string;
  /** redis://HOST:PORT, without any password: for messages, logs and status. */
  display: string;
}

/** `budget:` of a credentials file: a daily cap shared by every job that uses the file. */
export interface SharedBudgetLimits {
  dailyUsd: number;
  /** Share of dailyUsd at which the notify webhook is sent, once per day. */
  alertAt: number;
}

export interface Credentials {
  file: string;
  strategy: Strategy;
  projects: ProjectCredentials[];
  emulator?: Record<string, unknown>;
  coordination?: CoordinationTarget;
  budget?: SharedBudgetLimits;
}

/** The limits that apply to a model on a project: the model's own entry, else `default`. */
export function quotaFor(project: ProjectCredentials, model: string): QuotaLimits {
  return project.quotas[model] ?? project.quotas.default ?? {};
}
