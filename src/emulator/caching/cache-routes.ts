import { modelNotFound, permissionDenied, type CallTarget } from '../api-errors.js';
import type { EmulatorConfig } from '../emulator-config.js';
import type { Json } from '../handlers/request-fields.js';
import { modelFamily } from '../model-family.js';
import { VERTEX_MODELS } from '../served-models.js';
import { invalidArgument, notFound } from '../vertex-error.js';
import { modelIdOf, resourceOf, type CachedContents } from './cached-contents.js';
import { matchResourcePath } from '../resource-path.js';

/**
 * Which `cachedContents` call a request is, from its path and method, as the SDK sends them on
 * Vertex (`ai.caches`): `POST|GET /{v1,v1beta1}/projects/{p}/locations/{l}/cachedContents` (create,
 * list) and `GET|PATCH|DELETE …/cachedContents/{id}` (get, update, delete).
 */
export type CacheAction = 'create' | 'list' | 'get' | 'update' | 'delete';

export interface CacheRoute {
  project: string;
  location: string;
  /** Undefined for create and list. */
  id: string | undefined;
  /** Undefined when the method does not fit the path (answered 404). */
  action: CacheAction | undefined;
  method: string;
}

const CACHE_PATH = /^\/(?:v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/cachedContents(?:\/([^/:]+))?$/;

export function matchCachePath(pathname: string, method: string): CacheRoute | undefined {
  const path = matchResourcePath(CACHE_PATH, pathname);
  if (!path) return undefined;
  const { project, location, id } = path;
  let action: CacheAction | undefined;
  if (!id) action = method === 'POST' ? 'create' : method === 'GET' ? 'list' : undefined;
  else action = method === 'GET' ? 'get' : method === 'PATCH' ? 'update' : method === 'DELETE' ? 'delete' : undefined;
  return { project, location, id: id || undefined, action, method };
}

/** Explicit context caching takes Gemini text models (not Imagen, embeddings, Veo or the image model). */
function cacheableModel(model: string): boolean {
  return VERTEX_MODELS.has(model) && modelFamily(model) === 'gemini';
}

/** Answers one `cachedContents` call (authentication is checked by the caller). */
export function answerCacheCall(caches: CachedContents, config: EmulatorConfig, route: CacheRoute, body: Json, query: URLSearchParams, now: number): unknown {
  const { project, location, id, action } = route;
  const name = `projects/${project}/locations/${location}/cachedContents/${id ?? ''}`;
  if (!action) throw notFound(`Method ${route.method} is not allowed on cachedContents${id ? `/${id}` : ''}.`);
  if (config.projects[project]?.deny) {
    const target: CallTarget = { api: 'vertex', project, location, model: '', method: 'cachedContents', version: 'v1beta1' };
    throw permissionDenied(target);
  }
  switch (action) {
    case 'create': {
      if (typeof body.model !== 'string' || body.model === '') throw invalidArgument('cached_content.model is required.');
      const model = modelIdOf(body.model);
      const target: CallTarget = { api: 'vertex', project, location, model, method: 'cachedContents', version: 'v1beta1' };
      if (!VERTEX_MODELS.has(model) || config.projects[project]?.unavailable_models.includes(model)) throw modelNotFound(target);
      if (!cacheableModel(model)) throw invalidArgument(`Model ${model} does not support cached content.`);
      return resourceOf(caches.create(project, location, model, body, now));
    }
    case 'list':
      return caches.list(project, location, query, now);
    case 'get':
      return resourceOf(caches.require(name, now));
    case 'update':
      return resourceOf(caches.update(name, body, query.get('updateMask') ?? query.get('update_mask'), now));
    case 'delete':
      caches.delete(name, now);
      return {};
  }
}
