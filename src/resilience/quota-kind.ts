import type { QuotaExhaustedError } from '../errors/provider-errors.js';
import { backoffDelay } from './backoff.js';

/**
 * Which kind of quota a 429 speaks for (docs/rate-limiting.md):
 * - `shared`: Vertex's dynamic shared quota of Gemini models. Capacity belongs to the model and the
 *   location, whatever the project: switching projects adds nothing, so no project cools down; the
 *   call waits a short backoff and an adaptive window per model and location paces the calls.
 * - `fixed`: a per-project quota (declared `quotas:`, Imagen, Veo, embeddings, any Gemini API key,
 *   or a 429 that names its quota): the project cools down for the model.
 * - `daily`: a per-day quota: the project is out for the model until the daily reset.
 */
export type QuotaKind = 'shared' | 'fixed' | 'daily';

/** What decides the kind of a project and model before any 429: the entry, as the credentials say it. */
export interface QuotaKindSource {
  api?: 'vertex' | 'gemini';
  /** `quota: shared | fixed` on the project entry. */
  quotaKind?: 'shared' | 'fixed';
  /** The limits that apply to the model (its own entry, else `default`), with its own `quota:` override. */
  limits: { kind?: 'shared' | 'fixed'; rpm?: number; requests?: number; rpd?: number; tpm?: number; concurrency?: number };
}

/** Vertex Gemini models run on dynamic shared quota; Imagen, Veo and embedding models have per-project quotas. */
function isSharedCapacityModel(model: string): boolean {
  return /^gemini-/.test(model) && !/embedding/.test(model);
}

function declaresLimits(limits: QuotaKindSource['limits']): boolean {
  return [limits.rpm, limits.requests, limits.rpd, limits.tpm, limits.concurrency].some((v) => v !== undefined);
}

/** The kind a project and model are governed by: an explicit `quota:` wins (the model's, then the entry's). */
export function configuredQuotaKind(source: QuotaKindSource, model: string): 'shared' | 'fixed' {
  const explicit = source.limits.kind ?? source.quotaKind;
  if (explicit) return explicit;
  if ((source.api ?? 'vertex') === 'gemini') return 'fixed';
  if (!isSharedCapacityModel(model)) return 'fixed';
  return declaresLimits(source.limits) ? 'fixed' : 'shared';
}

/**
 * The kind a given 429 speaks for. A per-day quota is daily wherever it comes from; a 429 that names
 * its quota (a QuotaFailure detail, "Quota exceeded for quota metric …") is a fixed quota even on a
 * model configured as shared, unless the credentials force `quota: shared`; a bare 429 is what the
 * project and model are configured for.
 */
export function quotaKindOf429(error: QuotaExhaustedError, configured: 'shared' | 'fixed', forced = false): QuotaKind {
  if (error.perDay) return 'daily';
  if (error.namesQuota && !(forced && configured === 'shared')) return 'fixed';
  return configured;
}

/** The wait before a call refused by shared capacity is sent again: 1 s doubling to 60 s, with jitter. */
export const SHARED_CAPACITY_BACKOFF = { baseMs: 1000, capMs: 60_000 } as const;

export function sharedCapacityDelay(refusals: number, random: () => number = Math.random): number {
  return backoffDelay(refusals, { ...SHARED_CAPACITY_BACKOFF, random });
}
