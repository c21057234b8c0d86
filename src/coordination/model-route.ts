import { quotaFor, type ProjectApi, type ProjectCredentials, type QuotaLimits } from '../credentials/credentials.js';
import type { QuotaExhaustedError } from '../errors/provider-errors.js';
import { configuredQuotaKind, quotaKindOf429, type QuotaKind } from '../resilience/quota-kind.js';
import { quotaKey, windowKey } from './quota-key.js';

/**
 * One project's calls for one model, resolved once from its credentials entry: the limits that
 * apply, the kind of quota that governs them before any 429, and the keys every run shares them
 * under. The pool builds the pair's breaker, limiter and capacity window from it, and a lease
 * carries it down, so nothing below asks the pool or the credentials about the model again.
 */
export interface ModelRoute {
  /** The entry's name (logs, status, the ledger). */
  project: string;
  model: string;
  api: ProjectApi;
  location: string;
  /** The limits that apply: the model's own entry, else `default`. */
  limits: QuotaLimits;
  /** The kind of quota before any 429 (docs/rate-limiting.md). */
  kind: 'shared' | 'fixed';
  /** `quota:` was written (on the model or the entry): a 429 that names its quota does not make a forced shared route fixed. */
  kindForced: boolean;
  /** The Google Cloud project (or Gemini API key), location and model: where `rpd`, declared limits and cooldowns are shared. */
  quotaKey: string;
  /** The model and location's shared-capacity window, when shared capacity governs the route. */
  windowKey: string | undefined;
  /** Whether the project's API serves the model at all (the Gemini API serves fewer models than Vertex). */
  served: boolean;
}

/** Resolves a model on a project; `serves` says whether the project's API has the model (all do, without it). */
export function resolveRoute(project: ProjectCredentials, model: string, serves?: (project: ProjectCredentials, model: string) => boolean): ModelRoute {
  const limits = quotaFor(project, model);
  const kind = configuredQuotaKind(
    { ...(project.api ? { api: project.api } : {}), ...(project.quotaKind ? { quotaKind: project.quotaKind } : {}), limits },
    model,
  );
  return {
    project: project.name,
    model,
    api: project.api ?? 'vertex',
    location: project.location,
    limits,
    kind,
    kindForced: (limits.kind ?? project.quotaKind) !== undefined,
    quotaKey: quotaKey(project, model),
    windowKey: kind === 'shared' ? windowKey(project, model) : undefined,
    served: serves?.(project, model) ?? true,
  };
}

/** Which kind of quota a 429 on this route speaks for (shared capacity, fixed, daily). */
export function kindOf429(route: ModelRoute, error: QuotaExhaustedError): QuotaKind {
  return quotaKindOf429(error, route.kind, route.kindForced);
}
