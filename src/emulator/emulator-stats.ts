import type { EmulatedApi } from './emulated-api.js';
import type { CapacityLaneStats } from './shared-capacity.js';

/**
 * What the emulator served, per project and per model: the independent count of billed calls
 * that tests and benchmarks compare with genbatch's own ledger.
 */
export interface EmulatorCounters {
  /** Model calls that reached a project (countTokens and operation polls excluded). */
  requests: number;
  /** Successful billed calls. */
  ok: number;
  rejected_429: number;
  failed_5xx: number;
  denied_403: number;
  /** Calls of a model the project cannot use (`unavailable_models`): 404, not billed. */
  not_found_404: number;
  /** Prompt tokens (promptTokenCount), cached ones included. */
  input_tokens: number;
  /**
   * The part of `input_tokens` served from a context cache (cachedContentTokenCount: an explicit
   * cache the request named, or an implicit cache hit), billed at the cached price instead of the input price.
   */
  cached_input_tokens: number;
  /** Reply tokens, thinking tokens included (both are billed as output). */
  output_tokens: number;
  images: number;
  videos_seconds: number;
  /** countTokens calls (free of charge, so apart from `requests`). */
  count_tokens: number;
  /**
   * Text and JSON replies cut at maxOutputTokens (finishReason MAX_TOKENS), thinking included: with
   * no parts at all when thinking used up the whole limit. Billed, and counted in `ok` too.
   */
  max_tokens: number;
  /**
   * Batch prediction, apart from the online counters above (no quotas, half price): jobs accepted,
   * request lines submitted in them, lines answered with a response (billed) or a `status` error
   * (not billed), and the billed usage of the answered lines only.
   */
  batch_jobs: number;
  batch_requests: number;
  batch_ok: number;
  batch_failed: number;
  batch_input_tokens: number;
  /** The part of `batch_input_tokens` served from a context cache: billed at the cached price, without the batch discount (they do not stack). */
  batch_cached_input_tokens: number;
  batch_output_tokens: number;
  /**
   * Explicit caches (`cachedContents`), counted under the project and model that created them:
   * created, deleted, expired (their expireTime passed), and their storage in token-hours
   * (tokenCount x seconds alive / 3600, alive from create until delete or expiry; a cache still
   * alive counts up to the moment of the snapshot).
   */
  caches_created: number;
  caches_deleted: number;
  caches_expired: number;
  cache_storage_token_hours: number;
}

export interface ProjectStats extends EmulatorCounters {
  /** The API the project was first seen on (a Gemini API key's project is `gemini`). */
  api: EmulatedApi;
  by_model: Record<string, EmulatorCounters>;
}

export interface EmulatorStats {
  projects: Record<string, ProjectStats>;
  /**
   * Shared capacity per location, per model (only pools that saw a call): the limit now, calls in
   * flight, admitted and refused. Its refusals are counted in the calling project's `rejected_429` too.
   */
  shared_capacity?: Record<string, Record<string, CapacityLaneStats>>;
}

export type CounterName = keyof EmulatorCounters;

function zeroCounters(): EmulatorCounters {
  return {
    requests: 0,
    ok: 0,
    rejected_429: 0,
    failed_5xx: 0,
    denied_403: 0,
    not_found_404: 0,
    input_tokens: 0,
    cached_input_tokens: 0,
    output_tokens: 0,
    images: 0,
    videos_seconds: 0,
    count_tokens: 0,
    max_tokens: 0,
    batch_jobs: 0,
    batch_requests: 0,
    batch_ok: 0,
    batch_failed: 0,
    batch_input_tokens: 0,
    batch_cached_input_tokens: 0,
    batch_output_tokens: 0,
    caches_created: 0,
    caches_deleted: 0,
    caches_expired: 0,
    cache_storage_token_hours: 0,
  };
}

export class StatsRecorder {
  private projects = new Map<string, { api: EmulatedApi; total: EmulatorCounters; byModel: Map<string, EmulatorCounters> }>();

  add(api: EmulatedApi, project: string, model: string, increments: Partial<EmulatorCounters>): void {
    let entry = this.projects.get(project);
    if (!entry) {
      entry = { api, total: zeroCounters(), byModel: new Map() };
      this.projects.set(project, entry);
    }
    let perModel = entry.byModel.get(model);
    if (!perModel) {
      perModel = zeroCounters();
      entry.byModel.set(model, perModel);
    }
    for (const [name, value] of Object.entries(increments) as [CounterName, number | undefined][]) {
      if (value === undefined || value === 0) continue;
      entry.total[name] += value;
      perModel[name] += value;
    }
  }

  snapshot(): EmulatorStats {
    const projects: Record<string, ProjectStats> = {};
    for (const [name, entry] of this.projects) {
      projects[name] = { api: entry.api, ...entry.total, by_model: Object.fromEntries([...entry.byModel].map(([m, c]) => [m, { ...c }])) };
    }
    return { projects };
  }

  reset(): void {
    this.projects.clear();
  }
}
