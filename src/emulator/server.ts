import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors/config-error.js';
import { methodNotSupported, modelNotFound, permissionDenied, quotaError, sharedCapacityExhausted, unauthenticated, type CallTarget } from './api-errors.js';
import { BatchJobs } from './batch/batch-jobs.js';
import { matchBatchPath, type BatchRoute } from './batch/batch-route.js';
import { answerCacheCall, matchCachePath, type CacheRoute } from './caching/cache-routes.js';
import { CachedContents, tokenHours } from './caching/cached-contents.js';
import { ImplicitCache } from './caching/implicit-cache.js';
import { parseEmulatorConfig, type EmulatorConfig, type LatencyRange } from './emulator-config.js';
import type { EmulatedApi } from './emulated-api.js';
import { StatsRecorder, type EmulatorCounters, type EmulatorStats } from './emulator-stats.js';
import { apiKeyOf, keyProject } from './gemini-api/api-key.js';
import { matchGeminiPath, type GeminiRoute } from './gemini-api/gemini-route.js';
import { countTokens } from './handlers/count-tokens.js';
import { embeddingsPredict } from './handlers/embeddings-predict.js';
import { geminiBatchEmbedContents, geminiEmbedContent } from './handlers/gemini-embed.js';
import { geminiVideoFile, getGeminiOperation } from './handlers/gemini-video.js';
import { generateContent } from './handlers/generate-content.js';
import { imagenPredict } from './handlers/imagen-predict.js';
import type { Handler, HandlerContext } from './handlers/model-call.js';
import { asObject, type Json } from './handlers/request-fields.js';
import { fetchPredictOperation, predictLongRunning } from './handlers/video-operations.js';
import { VideoOperations } from './handlers/video-operation-store.js';
import { GEMINI_API_MODELS, VERTEX_MODELS } from './served-models.js';
import { FAMILY_METHODS, GEMINI_API_METHODS, modelFamily, type ModelFamily } from './model-family.js';
import { PromptOccurrences } from './prompt-occurrences.js';
import { QuotaTracker } from './quota-tracker.js';
import { seededRandom, type Rng } from './seeded-random.js';
import { capacityFor, SharedCapacity } from './shared-capacity.js';
import { ObjectStore } from './storage/object-store.js';
import { isStoragePath, StorageRoutes } from './storage/storage-routes.js';
import { invalidArgument, notFound, VertexHttpError } from './vertex-error.js';

/**
 * A local stand-in for Vertex AI and the Gemini Developer API: the same paths, JSON and error
 * bodies, with quotas, latency and faults from a config. Plain node:http on 127.0.0.1, so the real
 * SDK can be pointed at it.
 */
/** One billed call as it arrived: when, where, and how it was answered (before latency). */
export interface RequestLogEntry {
  at: number;
  api: EmulatedApi;
  /** The project in the path, or a Gemini API key's project (never the key). */
  project: string;
  model: string;
  status: number;
}

/** An explicit cache created, deleted, or expired (at its expireTime), with its size and, at its end, its storage. */
export interface CacheLogEntry {
  at: number;
  event: 'create' | 'delete' | 'expire';
  /** `projects/P/locations/L/cachedContents/ID`. */
  name: string;
  project: string;
  location: string;
  model: string;
  tokens: number;
  /** Storage billed for the cache's whole life (delete and expire only). */
  token_hours?: number;
}

export interface RunningEmulator {
  url: string;
  port: number;
  stats(): EmulatorStats;
  /** Billed calls in arrival order (the last 200,000), for tests that check when calls came. */
  log(): RequestLogEntry[];
  /** Explicit caches created, deleted and expired, in the order of `at` (also `caches` in GET /_emulator/log). */
  cacheLog(): CacheLogEntry[];
  setConfig(config: EmulatorConfig): void;
  /** Asks per prompt kept from an earlier emulator (see PromptOccurrences.restore). */
  restorePromptCounts(counts: Iterable<readonly [number, number]>): void;
  /** Asks per prompt of the prompts asked since the last call, for the caller to keep. */
  takePromptCounts(): [number, number][];
  /**
   * Resolves once no request is being answered. A call whose client went away (killed, timed out)
   * is still answered and billed after its latency, as at Vertex: tests wait for those bills here.
   */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const MODEL_PATH = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):([A-Za-z]+)$/;
const ALL_METHODS = new Set(Object.values(FAMILY_METHODS).flat());
/** Calls that are not billed and not counted in `requests` (`getOperation`: the Gemini API's Veo poll). */
const FREE_METHODS = new Set(['countTokens', 'fetchPredictOperation', 'getOperation']);
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Refusals answered without the model's latency: a call refused for shared capacity never reached a model. */
const refusedAtOnce = new WeakSet<VertexHttpError>();

/** The handler of a method a family answers (FAMILY_METHODS / GEMINI_API_METHODS say which it does). */
function handlerFor(family: ModelFamily, method: string): Handler | undefined {
  if (method === 'countTokens') return countTokens;
  if (method === 'generateContent') return generateContent;
  if (method === 'predictLongRunning') return predictLongRunning;
  if (method === 'fetchPredictOperation') return fetchPredictOperation;
  if (method === 'getOperation') return getGeminiOperation;
  if (method === 'embedContent') return geminiEmbedContent;
  if (method === 'batchEmbedContents') return geminiBatchEmbedContents;
  if (method === 'predict') return family === 'imagen' ? imagenPredict : embeddingsPredict;
  return undefined;
}

/** A Vertex model path: `/v1beta1/projects/{p}/locations/{l}/publishers/google/models/{m}:{method}`. */
function matchVertexPath(pathname: string): CallTarget | undefined {
  const match = MODEL_PATH.exec(pathname);
  if (!match) return undefined;
  try {
    const [, version = '', project = '', location = '', model = '', method = ''] = match.map((part) => decodeURIComponent(part));
    return { api: 'vertex', project, location, model, method, version };
  } catch {
    return undefined;
  }
}

function cacheFields(cache: { name: string; project: string; location: string; model: string; tokenCount: number }) {
  return { name: cache.name, project: cache.project, location: cache.location, model: cache.model, tokens: cache.tokenCount };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A 200 whose JSON body is cut off halfway (`cut_body_rate`): complete at the HTTP level, unreadable as JSON. */
function sendCutJson(res: ServerResponse, body: unknown): void {
  if (res.destroyed || res.writableEnded) return;
  const text = Buffer.from(JSON.stringify(body));
  const cut = text.subarray(0, Math.floor(text.length / 2));
  res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'content-length': cut.length });
  res.end(cut);
}

function sendError(res: ServerResponse, error: VertexHttpError): void {
  sendJson(res, error.httpStatus, error.body(), error.headers);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw invalidArgument(`Request payload size exceeds the limit: ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readBody(req);
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalidArgument(`Invalid JSON payload received. ${(error as Error).message}`);
  }
  const object = asObject(parsed);
  if (!object) throw invalidArgument('Invalid JSON payload received. Expected an object at the top level.');
  return object;
}

function isAuthenticated(req: IncomingMessage): boolean {
  const apiKey = req.headers['x-goog-api-key'];
  if (typeof apiKey === 'string' && apiKey.trim() !== '') return true;
  const authorization = req.headers.authorization;
  return typeof authorization === 'string' && /^Bearer\s+\S+/i.test(authorization);
}

class Emulator {
  /** Latency waits in progress, so that closing the emulator ends them (a closed server leaves no timer behind). */
  private readonly waits = new Map<NodeJS.Timeout, () => void>();
  private config: EmulatorConfig;
  private readonly stats = new StatsRecorder();
  private readonly quotas = new QuotaTracker();
  private readonly sharedCapacity = new SharedCapacity();
  private readonly operations = new VideoOperations();
  readonly occurrences = new PromptOccurrences();
  /** Cloud Storage objects (batch inputs and outputs), served on the same port. */
  private readonly store = new ObjectStore();
  private readonly storage = new StorageRoutes(this.store);
  private readonly batch = new BatchJobs({
    store: this.store,
    config: () => this.config,
    context: () => this.handlerContext(),
    count: (project, model, increments) => this.stats.add('vertex', project, model, increments),
  });
  private requestLog: RequestLogEntry[] = [];
  private cacheEvents: CacheLogEntry[] = [];
  /** Explicit context caches: their storage is counted under the project and model that made them. */
  private readonly caches = new CachedContents(() => this.config.caching, {
    created: (cache) => {
      this.stats.add('vertex', cache.project, cache.model, { caches_created: 1 });
      this.logCache({ at: cache.createTime, event: 'create', ...cacheFields(cache) });
    },
    ended: ({ cache, event, at, tokenHours: hours }) => {
      this.stats.add('vertex', cache.project, cache.model, {
        [event === 'delete' ? 'caches_deleted' : 'caches_expired']: 1,
        cache_storage_token_hours: hours,
      });
      this.logCache({ at, event, ...cacheFields(cache), token_hours: hours });
    },
  });
  private readonly implicitCache = new ImplicitCache(() => this.config.caching);
  private latencyRng!: Rng;
  private faultRng!: Rng;
  private cutRng!: Rng;

  constructor(config: EmulatorConfig) {
    this.config = config;
    this.reseed();
  }

  snapshot(): EmulatorStats {
    const now = Date.now();
    this.caches.expire(now);
    const stats = this.stats.snapshot();
    // Caches still alive have cost their storage so far.
    for (const cache of this.caches.alive(now)) {
      const hours = tokenHours(cache.tokenCount, cache.createTime, now);
      const project = stats.projects[cache.project];
      const perModel = project?.by_model[cache.model];
      if (project) project.cache_storage_token_hours += hours;
      if (perModel) perModel.cache_storage_token_hours += hours;
    }
    return { ...stats, shared_capacity: this.sharedCapacity.snapshot(now) };
  }

  setConfig(config: EmulatorConfig): void {
    const reseed = config.seed !== this.config.seed;
    this.config = config;
    if (reseed) this.reseed();
  }

  /** In arrival order (entries are written when answered, which may be in another order). */
  log(): RequestLogEntry[] {
    return [...this.requestLog].sort((a, b) => a.at - b.at);
  }

  cacheLog(): CacheLogEntry[] {
    this.caches.expire(Date.now());
    return [...this.cacheEvents].sort((a, b) => a.at - b.at);
  }

  private logCache(entry: CacheLogEntry): void {
    this.cacheEvents.push(entry);
    if (this.cacheEvents.length > 200_000) this.cacheEvents.splice(0, 50_000);
  }

  private logRequest(api: EmulatedApi, project: string, model: string, status: number, at: number): void {
    this.requestLog.push({ at, api, project, model, status });
    if (this.requestLog.length > 200_000) this.requestLog.splice(0, 50_000);
  }

  reset(): void {
    this.requestLog = [];
    this.cacheEvents = [];
    this.caches.clear();
    this.implicitCache.clear();
    this.stats.reset();
    this.quotas.reset();
    this.sharedCapacity.reset();
    this.occurrences.reset();
    this.reseed();
  }

  /** Separate streams, so changing latency settings does not move the 503s. */
  private reseed(): void {
    this.latencyRng = seededRandom(this.config.seed, 'latency');
    this.faultRng = seededRandom(this.config.seed, '503');
    this.cutRng = seededRandom(this.config.seed, 'cut-body');
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (url.pathname.startsWith('/_emulator/')) return this.handleControl(req, res, url.pathname);
    if (isStoragePath(url.pathname)) return this.storage.handle(req, res, url);
    const cacheRoute = matchCachePath(url.pathname, req.method ?? 'GET');
    if (cacheRoute) return this.answerCache(req, res, cacheRoute, url);
    const batchRoute = matchBatchPath(url.pathname, req.method ?? 'GET');
    if (batchRoute) return this.answerBatch(req, res, batchRoute, url);
    const vertex = matchVertexPath(url.pathname);
    if (vertex) return this.serveModelCall(req, res, vertex);
    const gemini = matchGeminiPath(url.pathname);
    if (gemini) return this.serveGemini(req, res, url, gemini);
    sendError(res, notFound(`The requested URL ${url.pathname} was not found on this server.`));
  }

  /**
   * A Gemini API call: its key names the project (a refused key is answered at once, counted
   * nowhere: there is no project to count it under), then it goes the way of a Vertex call.
   */
  private async serveGemini(req: IncomingMessage, res: ServerResponse, url: URL, route: GeminiRoute): Promise<void> {
    let project: string;
    try {
      project = keyProject(apiKeyOf(req, url), this.config.api_keys);
    } catch (error) {
      return sendError(res, error as VertexHttpError);
    }
    if (route.kind === 'file') return this.serveGeminiFile(req, res, route.id, project);
    const target: CallTarget = { api: 'gemini', project, location: 'global', model: route.model, version: route.version, method: 'getOperation' };
    if (route.kind === 'model') return this.serveModelCall(req, res, { ...target, method: route.method });
    // The poll is a GET of the operation's name; its handler reads the name as Vertex's poll body carries it.
    return this.serveModelCall(req, res, target, { operationName: route.name });
  }

  /** A generated video's bytes (free, no latency): what `ai.files.download` fetches. */
  private serveGeminiFile(req: IncomingMessage, res: ServerResponse, id: string, project: string): void {
    try {
      if (req.method !== 'GET') throw notFound(`Method ${req.method ?? ''} is not allowed on files/${id}:download.`);
      const bytes = geminiVideoFile(this.operations, id, project, this.config.seed, Date.now());
      if (res.destroyed || res.writableEnded) return;
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': bytes.length });
      res.end(bytes);
    } catch (error) {
      sendError(
        res,
        error instanceof VertexHttpError ? error : new VertexHttpError(500, 'INTERNAL', `Internal error encountered: ${(error as Error).message}`),
      );
    }
  }

  /**
   * One model call on either API: answered after the latency, errors included, and logged unless
   * free. `presetBody` is the request of a GET (the Gemini API's operation poll), which has no body.
   */
  private async serveModelCall(req: IncomingMessage, res: ServerResponse, target: CallTarget, presetBody?: Json): Promise<void> {
    const { api, project, model, method } = target;
    const started = Date.now();
    const latency = this.latencyFor(project, model);
    const logged = !FREE_METHODS.has(method);
    try {
      const outcome = await this.answer(req, target, presetBody, latency, started);
      if (logged) this.logRequest(api, project, model, 200, started);
      // Billed and counted above; the caller gets a body it cannot read.
      if (logged && this.cutRng.chance(this.config.cut_body_rate)) sendCutJson(res, outcome);
      else sendJson(res, 200, outcome);
    } catch (error) {
      if (logged) this.logRequest(api, project, model, error instanceof VertexHttpError ? error.httpStatus : 500, started);
      if (!(error instanceof VertexHttpError && refusedAtOnce.has(error))) await this.sleep(latency - (Date.now() - started));
      if (error instanceof VertexHttpError) {
        sendError(res, error);
      } else {
        this.stats.add(api, project, model, FREE_METHODS.has(method) ? {} : { failed_5xx: 1 });
        sendError(res, new VertexHttpError(500, 'INTERNAL', `Internal error encountered: ${(error as Error).message}`));
      }
    }
  }

  /** Checks, quotas and faults in Vertex's order, then the model's answer after the latency. */
  private async answer(req: IncomingMessage, target: CallTarget, presetBody: Json | undefined, latency: number, started: number): Promise<unknown> {
    const { api, project, location, model, method } = target;
    const httpMethod = presetBody ? 'GET' : 'POST';
    if (req.method !== httpMethod) throw notFound(`Method ${req.method ?? ''} is not allowed on ${method}.`);
    if (api === 'vertex' && !isAuthenticated(req)) throw unauthenticated();
    const family = modelFamily(model);
    if (!family || !(api === 'gemini' ? GEMINI_API_MODELS : VERTEX_MODELS).has(model)) throw modelNotFound(target);
    const methods = api === 'gemini' ? GEMINI_API_METHODS : FAMILY_METHODS;
    const handler = methods[family].includes(method) ? handlerFor(family, method) : undefined;
    if (!handler) throw methodNotSupported(target, ALL_METHODS.has(method));
    const body = presetBody ?? (await readJson(req));
    // The Gemini API has no labels (the SDK refuses them before sending); a raw request gets Google's 400.
    if (api === 'gemini' && body.labels !== undefined) throw invalidArgument('Invalid JSON payload received. Unknown name "labels": Cannot find field.');
    const billed = !FREE_METHODS.has(method);
    const projectConfig = this.config.projects[project];
    const count = (increments: Partial<EmulatorCounters>): void => this.stats.add(api, project, model, increments);

    if (billed) count({ requests: 1 });
    if (projectConfig?.deny) {
      if (billed) count({ denied_403: 1 });
      throw permissionDenied(target);
    }
    if (projectConfig?.unavailable_models.includes(model)) {
      if (billed) count({ not_found_404: 1 });
      throw modelNotFound(target);
    }
    if (billed) {
      const verdict = this.quotas.admit(project, model, projectConfig, Date.now());
      if (verdict.kind !== 'ok') {
        count({ rejected_429: 1 });
        throw quotaError(api, verdict, model, this.config.retry_after);
      }
      if (this.faultRng.chance(projectConfig?.fail_rate_503 ?? this.config.fail_rate_503)) {
        count({ failed_5xx: 1 });
        throw new VertexHttpError(503, 'UNAVAILABLE', 'The service is currently unavailable.');
      }
    }
    // Shared capacity (dynamic shared quota): held while the call is answered, latency included.
    const capacity = billed ? capacityFor(this.config, api, project, location, model) : undefined;
    const admission = capacity ? this.sharedCapacity.admit(location, model, capacity, Date.now()) : undefined;
    if (admission?.kind === 'refused') {
      count({ rejected_429: 1 });
      const refusal = sharedCapacityExhausted();
      refusedAtOnce.add(refusal);
      throw refusal;
    }

    try {
      const ctx = this.handlerContext();
      const call = { api, project, location, model, method, body };
      const [outcome] = await Promise.all([Promise.resolve(handler(call, ctx)), this.sleep(latency - (Date.now() - started))]);
      count(method === 'countTokens' ? { count_tokens: 1 } : billed ? { ok: 1, ...outcome.usage } : {});
      return outcome.body;
    } finally {
      admission?.release();
    }
  }

  private handlerContext(): HandlerContext {
    return {
      config: this.config,
      now: () => Date.now(),
      operations: this.operations,
      occurrences: this.occurrences,
      objects: this.store,
      caches: this.caches,
      implicitCache: this.implicitCache,
    };
  }

  /** cachedContents: the same authentication as model calls; no quotas, latency or faults, not billed as calls. */
  private async answerCache(req: IncomingMessage, res: ServerResponse, route: CacheRoute, url: URL): Promise<void> {
    try {
      if (!isAuthenticated(req)) throw unauthenticated();
      const body = req.method === 'POST' || req.method === 'PATCH' ? await readJson(req) : {};
      sendJson(res, 200, answerCacheCall(this.caches, this.config, route, body, url.searchParams, Date.now()));
    } catch (error) {
      if (error instanceof VertexHttpError) return sendError(res, error);
      sendError(res, new VertexHttpError(500, 'INTERNAL', `Internal error encountered: ${(error as Error).message}`));
    }
  }

  /** batchPredictionJobs: the same authentication as model calls; no quotas, latency or faults. */
  private async answerBatch(req: IncomingMessage, res: ServerResponse, route: BatchRoute, url: URL): Promise<void> {
    try {
      if (!isAuthenticated(req)) throw unauthenticated();
      const body = req.method === 'POST' ? await readJson(req) : {};
      sendJson(res, 200, await this.batch.answer(route, body, url.searchParams));
    } catch (error) {
      if (error instanceof VertexHttpError) return sendError(res, error);
      sendError(res, new VertexHttpError(500, 'INTERNAL', `Internal error encountered: ${(error as Error).message}`));
    }
  }

  /** Stops batch runners and uploads, then frees every stored object. */
  async shutdown(): Promise<void> {
    await this.batch.close();
    await this.storage.close();
    await this.store.close();
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waits.delete(timer);
        resolve();
      }, ms);
      this.waits.set(timer, resolve);
    });
  }

  /** Ends every latency wait at once: the answers go nowhere (their connections are closed). */
  endWaits(): void {
    for (const [timer, resolve] of this.waits) {
      clearTimeout(timer);
      resolve();
    }
    this.waits.clear();
  }

  private latencyFor(project: string, model: string): number {
    const range: LatencyRange = this.config.projects[project]?.latency_ms ?? this.config.models[model]?.latency_ms ?? this.config.latency_ms;
    return range.min + this.latencyRng.next() * (range.max - range.min);
  }

  private async handleControl(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/_emulator/stats' && req.method === 'GET') return sendJson(res, 200, this.snapshot());
    if (path === '/_emulator/log' && req.method === 'GET') return sendJson(res, 200, { requests: this.log(), caches: this.cacheLog() });
    if (path === '/_emulator/batch/expire' && req.method === 'POST') {
      const body = await readJson(req).catch(() => ({}) as Record<string, unknown>);
      return sendJson(res, 200, { expired: this.batch.expire(typeof body.name === 'string' ? body.name : undefined) });
    }
    if (path === '/_emulator/reset' && req.method === 'POST') {
      this.reset();
      return sendJson(res, 200, {});
    }
    if (path === '/_emulator/config' && req.method === 'PUT') {
      try {
        this.setConfig(parseEmulatorConfig(await readJson(req), 'PUT /_emulator/config'));
        return sendJson(res, 200, {});
      } catch (error) {
        if (error instanceof VertexHttpError) return sendError(res, error);
        if (error instanceof ConfigError) return sendError(res, invalidArgument(error.message));
        throw error;
      }
    }
    return sendError(res, notFound(`No emulator control endpoint ${req.method ?? ''} ${path}.`));
  }
}

export async function startEmulator(config: EmulatorConfig, opts: { port?: number; host?: string } = {}): Promise<RunningEmulator> {
  const emulator = new Emulator(config);
  let answering = 0;
  const idleWaiters: (() => void)[] = [];
  const server = createServer((req, res) => {
    answering += 1;
    emulator
      .handle(req, res)
      .catch((error: unknown) => {
        sendError(res, new VertexHttpError(500, 'INTERNAL', `Internal error encountered: ${(error as Error).message}`));
      })
      .finally(() => {
        answering -= 1;
        if (answering === 0) for (const resolve of idleWaiters.splice(0)) resolve();
      });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    stats: () => emulator.snapshot(),
    log: () => emulator.log(),
    cacheLog: () => emulator.cacheLog(),
    setConfig: (next) => emulator.setConfig(next),
    restorePromptCounts: (counts) => emulator.occurrences.restore(counts),
    takePromptCounts: () => emulator.occurrences.takeChanged(),
    idle: () => (answering === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    close: async () => {
      const closed = new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets from the SDK's fetch would otherwise hold close() open.
        server.closeAllConnections();
        emulator.endWaits();
      });
      await Promise.all([closed, emulator.shutdown()]);
    },
  };
}
