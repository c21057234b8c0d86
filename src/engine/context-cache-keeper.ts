import { randomBytes } from 'node:crypto';
import type { GoogleGenAI } from '@google/genai';
import type { ProjectCredentials } from '../credentials/credentials.js';
import { contextCachePlan } from '../estimate/context-cache-plan.js';
import type { PriceCatalog } from '../estimate/price-catalog.js';
import type { Job, Step } from '../job/job.js';
import { MIN_CACHE_TOKENS, staticPrefix, type StaticPrefix } from '../job/static-prefix.js';
import { contextCaches, type ContextCacheInfo } from '../providers/context-cache.js';
import type { ProviderRequest } from '../providers/provider.js';
import { typicalTokens } from '../providers/token-heuristics.js';
import { PENDING_PREFIX, type ContextCacheQueries, type ContextCacheRow, type StorageBooking } from '../store/context-cache-queries.js';
import type { Checkpoints } from '../store/interfaces/checkpoints.js';
import type { StepQueries } from '../store/step-queries.js';

/** What the keeper reads and writes of the state: the caches' rows and storage bookings, committed with the group commit. */
export interface ContextCacheState extends Pick<Checkpoints, 'commit'> {
  readonly contextCaches: Pick<ContextCacheQueries, 'intent' | 'created' | 'extended' | 'ended' | 'live'>;
  readonly steps: Pick<StepQueries, 'unfinishedCount'>;
}

export interface ContextCacheKeeperOptions {
  runId: string;
  job: Job;
  store: ContextCacheState;
  catalog: PriceCatalog;
  /** The enabled projects a step's pool draws on (a cache is made per project and location). */
  projects: (step: Step) => readonly ProjectCredentials[];
  /** A project's client, for deleting its caches when no call holds a lease. */
  clientFor: (project: string) => GoogleGenAI | undefined;
  /** How long a cache lives unless extended: at most this much storage is left to pay after a kill -9. */
  ttlSeconds?: number;
  now?: () => number;
}

/** A cache's TTL: extended while the run lasts, so a kill -9 leaves at most this much storage to pay. */
export const CONTEXT_CACHE_TTL_SECONDS = 600;
/** A call's typical duration, for the run's expected length when deciding whether a cache pays. */
const TYPICAL_CALL_SECONDS = 5;

interface Held {
  row: ContextCacheRow;
  client: GoogleGenAI;
  /** A TTL being bought: calls meanwhile wait for it rather than buy another. */
  extending?: Promise<void>;
}

/**
 * The explicit context caches of a run (issue 29): one per step, project, location and model at a
 * time, made when the step's first online call goes to that project (and only when it pays, or the
 * step says `context_cache: on`). The cache's name and its first TTL's storage are committed to the
 * state before its first use; its TTL is extended while the run lasts (each TTL booked in the ledger
 * when bought); it is deleted when the step's work is done or the run ends (a clean stop too), and
 * the booked storage corrected to the time it really lived. A resume reuses a recorded cache that is
 * still alive and makes a new one when it is gone. Providers only call Vertex; the rows are written here
 * through the store.
 */
export class ContextCacheKeeper {
  readonly #options: ContextCacheKeeperOptions;
  readonly #ttl: number;
  readonly #now: () => number;
  /** Per step: its static prefix when the step uses a cache, else null. */
  readonly #decided = new Map<string, StaticPrefix | null>();
  /** Per step, project and model: the cache in use (a promise, so concurrent calls share one create). */
  readonly #held = new Map<string, Promise<Held | undefined>>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ContextCacheKeeperOptions) {
    this.#options = options;
    this.#ttl = options.ttlSeconds ?? CONTEXT_CACHE_TTL_SECONDS;
    this.#now = options.now ?? Date.now;
  }

  /** Whether the step's online calls use a cache (decided once per run), and its static prefix. */
  prefixFor(step: Step): StaticPrefix | undefined {
    let decided = this.#decided.get(step.name);
    if (decided === undefined) {
      decided = this.decide(step) ?? null;
      this.#decided.set(step.name, decided);
    }
    return decided ?? undefined;
  }

  private decide(step: Step): StaticPrefix | undefined {
    const { job, catalog, store } = this.#options;
    const setting = step.contextCache ?? 'auto';
    if (setting === 'off' || step.task !== 'text' || (step.mode ?? 'online') === 'batch') return undefined;
    const prefix = staticPrefix(step, job.styles);
    const text = (prefix.system ?? '') + prefix.leading;
    // A prompt with no item field is all prefix: nothing would be left to send with the cache.
    if (text === '' || prefix.leading === step.prompt) return undefined;
    const prefixTokens = typicalTokens(text);
    if (prefixTokens < MIN_CACHE_TOKENS) return undefined;
    const items = store.steps.unfinishedCount(step.name);
    const places = new Set(this.#options.projects(step).map((p) => `${p.project}/${p.location}`));
    const plan = contextCachePlan({
      step: { ...step, mode: 'online' },
      items,
      prefixTokens,
      catalog,
      caches: Math.max(1, places.size),
      seconds: (items * TYPICAL_CALL_SECONDS) / Math.max(1, job.limits.concurrency),
      onlineUsd: 0,
    });
    return setting === 'on' || plan?.use ? prefix : undefined;
  }

  /**
   * The request to send on `project` with `model`: naming the step's cache there (made or reused now)
   * instead of carrying the static prefix, or unchanged when the step uses no cache or none can be had.
   */
  async requestFor(step: Step, request: ProviderRequest, project: ProjectCredentials, client: GoogleGenAI): Promise<ProviderRequest> {
    if (this.#closed || request.texts !== undefined) return request;
    const prefix = this.prefixFor(step);
    if (!prefix || (request.system ?? undefined) !== prefix.system || !request.prompt.startsWith(prefix.leading)) return request;
    if (!this.#options.catalog.contextCachePrices(request.model)) return request;
    const key = `${step.name}\u0000${project.name}\u0000${request.model}`;
    let held = this.#held.get(key);
    if (!held) {
      held = this.acquire(step, prefix, project, request.model, client).catch(() => undefined);
      this.#held.set(key, held);
      this.startTimer();
    }
    const cache = await held;
    if (!cache) return request;
    // A cache past half its TTL gets another before it is named (the timer does it too between calls).
    await this.extendOnce(cache).catch(() => undefined);
    const rest: ProviderRequest = { ...request, prompt: request.prompt.slice(prefix.leading.length), cachedContent: cache.row.name };
    delete rest.system;
    return rest;
  }

  /** A cache found gone by a call: the next call on that project and model makes a new one. */
  forget(step: Step, project: ProjectCredentials, model: string): void {
    const key = `${step.name}\u0000${project.name}\u0000${model}`;
    const held = this.#held.get(key);
    this.#held.delete(key);
    void held?.then((h) => h && this.end(h.row, Math.min(this.#now(), h.row.expireAt))).catch(() => undefined);
  }

  /** The recorded cache of this step, project and model when it is still alive; else a new one, committed before use. */
  private async acquire(step: Step, prefix: StaticPrefix, project: ProjectCredentials, model: string, client: GoogleGenAI): Promise<Held | undefined> {
    const { store, runId, job } = this.#options;
    const caches = contextCaches(client);
    for (const recorded of store.contextCaches.live()) {
      if (recorded.step !== step.name || recorded.project !== project.name || recorded.model !== model || recorded.location !== project.location) continue;
      const row = recorded.name.startsWith(PENDING_PREFIX) ? await this.recover(recorded, client) : recorded;
      const info = row && (await caches.get(row.name));
      if (row && info) {
        const held = { row: { ...row, expireAt: Date.parse(info.expireTime) }, client };
        await this.extend(held);
        return held;
      }
      // Gone (expired, or deleted elsewhere): it lived until it expired, at the latest.
      if (row) await this.end(row, Math.min(this.#now(), row.expireAt));
    }
    // Intent before spend: the row (with the display name the cache gets) is durable before the create,
    // so a run killed before it records the name leaves a trace the resume finds the cache by.
    const id = randomBytes(6).toString('hex');
    const pending = `${PENDING_PREFIX}${id}`;
    const displayName = `genbatch ${job.name.slice(0, 80)} ${step.name.slice(0, 20)} ${id}`;
    const now = this.#now();
    const intent: ContextCacheRow = {
      name: pending,
      step: step.name,
      project: project.name,
      location: project.location,
      model,
      tokenCount: 0,
      createdAt: now,
      expireAt: now + this.#ttl * 1000,
      bookedUntil: now,
      endedAt: null,
      runId,
      displayName,
    };
    await store.commit(() => store.contextCaches.intent(intent));
    let info: ContextCacheInfo;
    try {
      info = await caches.create({
        model,
        ...(prefix.system === undefined ? {} : { systemInstruction: prefix.system }),
        ...(prefix.leading === '' ? {} : { contents: [{ role: 'user', parts: [{ text: prefix.leading }] }] }),
        ttlSeconds: this.#ttl,
        displayName,
      });
    } catch (error) {
      await store.commit(() => store.contextCaches.ended(pending, now, undefined));
      throw error;
    }
    const expireAt = Date.parse(info.expireTime);
    // The server's create time: its expiry less the TTL bought (what its storage is billed from).
    const createdAt = expireAt - this.#ttl * 1000;
    const row: ContextCacheRow = { ...intent, name: info.name, tokenCount: info.tokenCount, createdAt, expireAt, bookedUntil: expireAt };
    // Named in the state (and its first TTL in the ledger) before the first request uses it.
    await store.commit(() => store.contextCaches.created(pending, row, this.booking(row, createdAt, expireAt)));
    return { row, client };
  }

  /**
   * A row left `pending:` by a run killed between the create and recording the name: the cache is
   * found by its display name (named now, its storage booked to its expiry), or the create never
   * happened (or the cache is gone: nothing to find) and the row ends.
   */
  private async recover(row: ContextCacheRow, client: GoogleGenAI): Promise<ContextCacheRow | undefined> {
    const store = this.#options.store;
    const found = (await contextCaches(client).list()).find((c) => row.displayName && c.displayName === row.displayName);
    if (!found) {
      await store.commit(() => store.contextCaches.ended(row.name, row.createdAt, undefined));
      return undefined;
    }
    const expireAt = Date.parse(found.expireTime);
    const createdAt = found.createTime ? Date.parse(found.createTime) : expireAt - this.#ttl * 1000;
    const named: ContextCacheRow = { ...row, name: found.name, tokenCount: found.tokenCount, createdAt, expireAt, bookedUntil: expireAt };
    await store.commit(() => store.contextCaches.created(row.name, named, this.booking(named, createdAt, expireAt)));
    return named;
  }

  private booking(row: Pick<ContextCacheRow, 'name' | 'step' | 'project' | 'model' | 'tokenCount'>, fromMs: number, toMs: number): StorageBooking {
    const seconds = (toMs - fromMs) / 1000;
    const sign = seconds < 0 ? -1 : 1;
    return {
      runId: this.#options.runId,
      cache: row,
      tokenHours: (row.tokenCount * seconds) / 3600,
      costUsd: sign * this.#options.catalog.cacheStorageCost(row.model, row.tokenCount, Math.abs(seconds)),
    };
  }

  private extendOnce(held: Held): Promise<void> {
    if (held.row.expireAt - this.#now() > (this.#ttl * 1000) / 2) return Promise.resolve();
    held.extending ??= this.extend(held).finally(() => (held.extending = undefined));
    return held.extending;
  }

  /** Buys another TTL when less than half of one is left, booking the storage up to the new expiry. */
  private async extend(held: Held, force = false): Promise<void> {
    const { row } = held;
    if (!force && row.expireAt - this.#now() > (this.#ttl * 1000) / 2) return;
    const info = await contextCaches(held.client).extend(row.name, this.#ttl);
    const expireAt = Date.parse(info.expireTime);
    const booking = this.booking(row, row.bookedUntil, expireAt);
    const store = this.#options.store;
    await store.commit(() => store.contextCaches.extended(row.name, expireAt, booking));
    row.expireAt = expireAt;
    row.bookedUntil = Math.max(row.bookedUntil, expireAt);
  }

  /** The cache ended at `at`: its storage corrected from what was booked to what it lived. */
  private async end(row: ContextCacheRow, at: number): Promise<void> {
    const store = this.#options.store;
    const booking = at === row.bookedUntil ? undefined : this.booking(row, row.bookedUntil, at);
    await store.commit(() => store.contextCaches.ended(row.name, at, booking));
  }

  private async remove(held: Held): Promise<void> {
    await contextCaches(held.client).remove(held.row.name);
    await this.end(held.row, Math.min(this.#now(), held.row.expireAt));
  }

  /** Every half TTL: extend the caches in use, and delete those of steps with no work left. */
  private startTimer(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.tick().catch(() => undefined), (this.#ttl * 1000) / 4);
    this.#timer.unref();
  }

  private async tick(): Promise<void> {
    for (const [key, promise] of this.#held) {
      const held = await promise;
      if (!held || this.#closed) continue;
      if (this.#options.store.steps.unfinishedCount(held.row.step) === 0) {
        this.#held.delete(key);
        await this.remove(held);
      } else await this.extendOnce(held);
    }
  }

  /**
   * The run ends (finished, stopped, Ctrl-C): every cache it holds is deleted, and so is any cache an
   * earlier run recorded that is still alive, when its project's client is at hand.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    const removed = new Set<string>();
    for (const promise of this.#held.values()) {
      const held = await promise;
      if (!held) continue;
      removed.add(held.row.name);
      await this.remove(held).catch(() => undefined);
    }
    this.#held.clear();
    for (const recorded of this.#options.store.contextCaches.live()) {
      if (removed.has(recorded.name)) continue;
      const client = this.#options.clientFor(recorded.project);
      if (!client) continue;
      const row = recorded.name.startsWith(PENDING_PREFIX) ? await this.recover(recorded, client).catch(() => undefined) : recorded;
      if (row) await this.remove({ row, client }).catch(() => undefined);
    }
  }
}
