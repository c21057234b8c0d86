import type { CachedContent, Content, GoogleGenAI } from '@google/genai';
import { ProviderError } from '../errors/provider-errors.js';
import { compact } from './compact.js';
import { callVertex } from './vertex-call.js';

/**
 * Explicit context caches (Vertex `cachedContents`) over the SDK's `ai.caches`: made in the client's
 * project and location (a cache is visible only there), referenced by name in generateContent
 * (`ProviderRequest.cachedContent`), billed for storage per token-hour until deleted or expired.
 * Failures leave here classified (src/resilience/classify-error.ts); a cache that is gone (404:
 * expired or deleted) is `undefined` for `get` and no error for `remove`.
 */
export interface ContextCacheSpec {
  model: string;
  systemInstruction?: string;
  contents?: Content[];
  ttlSeconds: number;
  displayName?: string;
}

export interface ContextCacheInfo {
  /** `projects/P/locations/L/cachedContents/ID`. */
  name: string;
  /** The bare model id (`gemini-2.5-flash`). */
  model: string;
  /** RFC 3339, as Vertex returns it. */
  expireTime: string;
  /** usageMetadata.totalTokenCount: what a request naming the cache reports as cachedContentTokenCount. */
  tokenCount: number;
  /** The display name given at create (s6-cache: finds a cache made by a run killed before it recorded the name). */
  displayName?: string;
  /** RFC 3339: when it was made (its storage is billed from then). */
  createTime?: string;
}

export interface ContextCaches {
  create(spec: ContextCacheSpec): Promise<ContextCacheInfo>;
  /** undefined when the cache is gone (404: expired or deleted). */
  get(name: string): Promise<ContextCacheInfo | undefined>;
  extend(name: string, ttlSeconds: number): Promise<ContextCacheInfo>;
  /** A cache already gone is not an error. */
  remove(name: string): Promise<void>;
  list(): Promise<ContextCacheInfo[]>;
}

/** A protobuf Duration as JSON: whole seconds (and millis, if any) with an `s`. */
function ttl(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`A cache TTL must be a positive number of seconds, got ${seconds}.`);
  return `${Number(seconds.toFixed(3))}s`;
}

function infoOf(cache: CachedContent): ContextCacheInfo {
  const model = cache.model ?? '';
  return {
    name: cache.name ?? '',
    model: /\/models\/([^/]+)$/.exec(model)?.[1] ?? model,
    expireTime: cache.expireTime ?? '',
    tokenCount: cache.usageMetadata?.totalTokenCount ?? 0,
    ...(cache.displayName ? { displayName: cache.displayName } : {}),
    ...(cache.createTime ? { createTime: cache.createTime } : {}),
  };
}

function isGone(error: unknown): boolean {
  return error instanceof ProviderError && error.httpStatus === 404;
}

export function contextCaches(client: GoogleGenAI): ContextCaches {
  return {
    async create(spec) {
      const cache = await callVertex(() =>
        client.caches.create({
          model: spec.model,
          config: compact({
            systemInstruction: spec.systemInstruction,
            contents: spec.contents,
            ttl: ttl(spec.ttlSeconds),
            displayName: spec.displayName,
          }),
        }),
      );
      return infoOf(cache);
    },
    async get(name) {
      try {
        return infoOf(await callVertex(() => client.caches.get({ name })));
      } catch (error) {
        if (isGone(error)) return undefined;
        throw error;
      }
    },
    async extend(name, ttlSeconds) {
      return infoOf(await callVertex(() => client.caches.update({ name, config: { ttl: ttl(ttlSeconds) } })));
    },
    async remove(name) {
      try {
        await callVertex(() => client.caches.delete({ name }));
      } catch (error) {
        if (!isGone(error)) throw error;
      }
    },
    async list() {
      const caches: ContextCacheInfo[] = [];
      await callVertex(async () => {
        const pager = await client.caches.list({ config: { pageSize: 100 } });
        for await (const cache of pager) caches.push(infoOf(cache));
      });
      return caches;
    },
  };
}
