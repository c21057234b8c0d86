import { randomInt } from 'node:crypto';
import type { CachingConfig } from '../emulator-config.js';
import { promptTokens, readGeminiPrompt } from '../handlers/gemini-prompt.js';
import { asObject, optionalString, type Json } from '../handlers/request-fields.js';
import type { VertexHttpError } from '../vertex-error.js';
import { invalidArgument, notFound } from '../vertex-error.js';

/**
 * Explicit context caches (`cachedContents`), as Vertex keeps them: created in one project and
 * location and visible only there, alive until deleted or until `expireTime` passes on the
 * emulator's clock (the `now` its callers pass: Date.now, so faked time moves it too). A cache is
 * billed for storage, token-hours: its token count x the seconds from create until delete or
 * expiry / 3600. Shapes and fields from google/cloud/aiplatform/v1/cached_content.proto and
 * gen_ai_cache_service.proto.
 */

/** Vertex's default TTL when a create names neither `ttl` nor `expireTime`. */
const DEFAULT_TTL_MS = 60 * 60 * 1000;
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const MODEL_IN_NAME = /^(?:projects\/[^/]+\/locations\/[^/]+\/)?(?:publishers\/google\/)?models\/([^/]+)$/;

export interface CachedContent {
  name: string;
  project: string;
  location: string;
  /** The bare model id (`gemini-2.5-flash`). */
  model: string;
  displayName: string | undefined;
  systemInstruction: Json | undefined;
  contents: unknown[];
  tokenCount: number;
  createTime: number;
  updateTime: number;
  expireTime: number;
}

/** A cache's end: deleted, or expired at its expireTime. */
export interface CacheEnd {
  cache: CachedContent;
  event: 'delete' | 'expire';
  at: number;
  /** tokenCount x seconds alive / 3600. */
  tokenHours: number;
}

export interface CacheListeners {
  created(cache: CachedContent): void;
  ended(end: CacheEnd): void;
}

export function tokenHours(tokenCount: number, fromMs: number, toMs: number): number {
  return (tokenCount * Math.max(0, toMs - fromMs)) / 1000 / 3600;
}

/** A protobuf Duration in JSON: seconds with up to nine fractional digits and an `s` (`3600s`, `3.5s`). */
export function parseDurationMs(value: unknown, field: string): number {
  const match = typeof value === 'string' ? /^(\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
  if (!match) throw invalidArgument(`Invalid value at '${field}' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(value)}`);
  return Number(match[1]) * 1000 + Number(`0.${match[2] ?? '0'}`) * 1000;
}

function parseTimestampMs(value: unknown, field: string): number {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw invalidArgument(`Invalid value at '${field}' (type.googleapis.com/google.protobuf.Timestamp), ${JSON.stringify(value)}`);
  return ms;
}

/** Vertex cache ids are 19-digit numbers, like its other resource ids. */
function newCacheId(): string {
  return `${randomInt(1, 10)}${Array.from({ length: 3 }, () => String(randomInt(0, 1_000_000)).padStart(6, '0')).join('')}`;
}

export function cacheNotFound(name: string): VertexHttpError {
  return notFound(`CachedContent not found (or permission denied): ${name}.`);
}

/** The bare model id in a cache's `model` (`projects/P/locations/L/publishers/google/models/M`, `models/M` or `M`). */
export function modelIdOf(model: string): string {
  return MODEL_IN_NAME.exec(model)?.[1] ?? model;
}

export class CachedContents {
  private readonly caches = new Map<string, CachedContent>();

  constructor(
    private readonly config: () => CachingConfig,
    private readonly listeners: CacheListeners,
  ) {}

  /** Ends every cache whose expireTime has passed (billed until its expireTime, not until now). */
  expire(now: number): void {
    for (const cache of [...this.caches.values()]) {
      if (cache.expireTime > now) continue;
      this.caches.delete(cache.name);
      this.listeners.ended({ cache, event: 'expire', at: cache.expireTime, tokenHours: tokenHours(cache.tokenCount, cache.createTime, cache.expireTime) });
    }
  }

  /** Caches alive now, oldest first. */
  alive(now: number): CachedContent[] {
    this.expire(now);
    return [...this.caches.values()];
  }

  /**
   * POST …/projects/P/locations/L/cachedContents. `model` is checked by the caller (it must be a model
   * the emulator serves), so only its id is taken here.
   */
  create(project: string, location: string, model: string, body: Json, now: number): CachedContent {
    this.expire(now);
    if (body.ttl !== undefined && body.expireTime !== undefined) {
      throw invalidArgument('Only one of ttl and expire_time may be set (they are one oneof field: expiration).');
    }
    const expireTime = expiryOf(body, now) ?? now + DEFAULT_TTL_MS;
    if (expireTime <= now) throw invalidArgument('expire_time must be in the future.');
    const contents = body.contents === undefined ? [] : body.contents;
    if (!Array.isArray(contents)) throw invalidArgument("Invalid value at 'cached_content.contents': expected a list.");
    const prompt = readGeminiPrompt(
      { contents, ...(body.systemInstruction === undefined ? {} : { systemInstruction: body.systemInstruction }) },
      { requireContents: false },
    );
    const tokenCount = promptTokens(prompt);
    const minimum = this.config().explicit_min_tokens;
    if (tokenCount < minimum) {
      throw invalidArgument(`The cached content is of ${tokenCount} tokens. The minimum token count to start caching is ${minimum}.`);
    }
    let id = newCacheId();
    while (this.caches.has(`projects/${project}/locations/${location}/cachedContents/${id}`)) id = newCacheId();
    const cache: CachedContent = {
      name: `projects/${project}/locations/${location}/cachedContents/${id}`,
      project,
      location,
      model,
      displayName: optionalString(body.displayName, 'cached_content.display_name'),
      systemInstruction: asObject(body.systemInstruction),
      contents,
      tokenCount,
      createTime: now,
      updateTime: now,
      expireTime,
    };
    this.caches.set(cache.name, cache);
    this.listeners.created(cache);
    return cache;
  }

  /** A live cache of this project and location; 404 when it is gone, or was made elsewhere. */
  require(name: string, now: number): CachedContent {
    this.expire(now);
    const cache = this.caches.get(name);
    if (!cache) throw cacheNotFound(name);
    return cache;
  }

  /** PATCH: only `ttl` or `expireTime` can change (UpdateCachedContentRequest). */
  update(name: string, body: Json, updateMask: string | null, now: number): CachedContent {
    const cache = this.require(name, now);
    if (updateMask !== null) {
      const fields = updateMask.split(',').map((f) => f.trim());
      const unknown = fields.filter((f) => !['ttl', 'expire_time', 'expireTime'].includes(f));
      if (unknown.length > 0) throw invalidArgument(`Only ttl or expire_time can be updated; update_mask names ${unknown.join(', ')}.`);
    }
    if (body.ttl !== undefined && body.expireTime !== undefined) {
      throw invalidArgument('Only one of ttl and expire_time may be set (they are one oneof field: expiration).');
    }
    const expireTime = expiryOf(body, now);
    if (expireTime === undefined) throw invalidArgument('Nothing to update: set ttl or expire_time.');
    if (expireTime <= now) throw invalidArgument('expire_time must be in the future.');
    cache.expireTime = expireTime;
    cache.updateTime = now;
    return cache;
  }

  delete(name: string, now: number): void {
    const cache = this.require(name, now);
    this.caches.delete(name);
    this.listeners.ended({ cache, event: 'delete', at: now, tokenHours: tokenHours(cache.tokenCount, cache.createTime, now) });
  }

  list(project: string, location: string, query: URLSearchParams, now: number): { cachedContents: unknown[]; nextPageToken?: string } {
    const all = this.alive(now).filter((c) => c.project === project && c.location === location);
    const requested = Number(query.get('pageSize') ?? DEFAULT_PAGE_SIZE);
    const size = Number.isInteger(requested) && requested > 0 ? Math.min(requested, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
    const token = query.get('pageToken');
    const offset = token ? Number(Buffer.from(token, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw invalidArgument(`Invalid page token "${token ?? ''}".`);
    return {
      cachedContents: all.slice(offset, offset + size).map(resourceOf),
      ...(offset + size < all.length ? { nextPageToken: Buffer.from(String(offset + size)).toString('base64url') } : {}),
    };
  }

  clear(): void {
    this.caches.clear();
  }
}

function expiryOf(body: Json, now: number): number | undefined {
  if (body.ttl !== undefined) return now + parseDurationMs(body.ttl, 'cached_content.ttl');
  if (body.expireTime !== undefined) return parseTimestampMs(body.expireTime, 'cached_content.expire_time');
  return undefined;
}

/** The resource as Vertex returns it: input-only fields (contents, systemInstruction, tools, ttl) left out. */
export function resourceOf(cache: CachedContent): Json {
  return {
    name: cache.name,
    model: `projects/${cache.project}/locations/${cache.location}/publishers/google/models/${cache.model}`,
    ...(cache.displayName === undefined ? {} : { displayName: cache.displayName }),
    createTime: new Date(cache.createTime).toISOString(),
    updateTime: new Date(cache.updateTime).toISOString(),
    expireTime: new Date(cache.expireTime).toISOString(),
    usageMetadata: { totalTokenCount: cache.tokenCount },
  };
}
