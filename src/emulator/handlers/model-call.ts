import type { CachedContents } from '../caching/cached-contents.js';
import type { ImplicitCache } from '../caching/implicit-cache.js';
import type { EmulatedApi } from '../emulated-api.js';
import type { EmulatorConfig } from '../emulator-config.js';
import type { EmulatorCounters } from '../emulator-stats.js';
import type { PromptOccurrences } from '../prompt-occurrences.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { VideoOperations } from './video-operation-store.js';

/**
 * One call to `/…/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}`
 * (Vertex) or `/v1beta/models/{model}:{method}` (Gemini API: `project` is the key's, `location` is `global`).
 */
export interface ModelCall {
  api: EmulatedApi;
  project: string;
  location: string;
  model: string;
  method: string;
  body: Record<string, unknown>;
}

export interface HandlerContext {
  config: EmulatorConfig;
  now(): number;
  operations: VideoOperations;
  /** How often each prompt was asked before: the n-th ask is sampled with n in its seed. */
  occurrences: PromptOccurrences;
  /** The emulator's Cloud Storage: where Veo writes videos asked for with `storageUri`, as Vertex does. */
  objects?: ObjectStore;
  /** Explicit context caches (`cachedContents`) a request may name; absent: none exist. */
  caches?: CachedContents;
  /** Prefixes sent recently (implicit caching); absent: no implicit caching. */
  implicitCache?: ImplicitCache;
}

/** A successful answer and what it adds to the stats (tokens, images, video seconds). */
export interface HandlerOutcome {
  body: unknown;
  usage: Partial<EmulatorCounters>;
}

export type Handler = (call: ModelCall, ctx: HandlerContext) => Promise<HandlerOutcome> | HandlerOutcome;
