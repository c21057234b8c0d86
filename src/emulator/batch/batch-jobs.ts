import { randomInt } from 'node:crypto';
import type { EmulatorConfig } from '../emulator-config.js';
import type { EmulatorCounters } from '../emulator-stats.js';
import type { HandlerContext } from '../handlers/model-call.js';
import type { Json } from '../handlers/request-fields.js';
import type { ObjectStore } from '../storage/object-store.js';
import { invalidArgument, notFound, VertexHttpError } from '../vertex-error.js';
import { readCreateRequest } from './batch-create.js';
import { BatchJob } from './batch-job.js';
import type { BatchRoute } from './batch-route.js';
import { runBatchJob } from './batch-runner.js';
import { parseListFilter } from './list-filter.js';

/**
 * The emulator's batch prediction service: every job by name, each with its runner. A job is
 * found only through the project and location that created it, as on Vertex (the SDK puts its
 * own project and location in the path and only the job id from the name).
 */
export interface BatchJobsDeps {
  store: ObjectStore;
  /** The live config (the `batch` part is copied into each job when it is created). */
  config(): EmulatorConfig;
  context(): HandlerContext;
  count(project: string, model: string, increments: Partial<EmulatorCounters>): void;
}

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

function failedPrecondition(message: string): VertexHttpError {
  return new VertexHttpError(400, 'FAILED_PRECONDITION', message);
}

/** Vertex job ids are 19-digit numbers. */
function newJobId(): string {
  return `${randomInt(1, 10)}${Array.from({ length: 3 }, () => String(randomInt(0, 1_000_000)).padStart(6, '0')).join('')}`;
}

export class BatchJobs {
  private readonly jobs = new Map<string, BatchJob>();
  private readonly runners = new Set<Promise<void>>();
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private closing = false;
  /** Makes output folder names unique within one millisecond (their sub-millisecond digits). */
  private folderSequence = 0;

  constructor(private readonly deps: BatchJobsDeps) {}

  async answer(route: BatchRoute, body: Json, query: URLSearchParams): Promise<unknown> {
    const { project, location, id } = route;
    if (this.deps.config().projects[project]?.deny) {
      const permission = route.action ?? 'get';
      throw new VertexHttpError(
        403,
        'PERMISSION_DENIED',
        `Permission 'aiplatform.batchPredictionJobs.${permission}' denied on resource '//aiplatform.googleapis.com/projects/${project}/locations/${location}' (or it may not exist).`,
        { details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IAM_PERMISSION_DENIED', domain: 'aiplatform.googleapis.com' }] },
      );
    }
    switch (route.action) {
      case 'create':
        return this.create(project, location, body);
      case 'list':
        return this.list(project, location, query);
      case 'get':
        return this.require(project, location, id).resource(Date.now());
      case 'cancel':
        return this.cancel(this.require(project, location, id));
      case 'delete':
        return this.delete(this.require(project, location, id));
      default:
        throw notFound(`Method ${route.method} is not allowed on batchPredictionJobs${id ? `/${id}` : ''}.`);
    }
  }

  private async create(project: string, location: string, body: Json): Promise<unknown> {
    const config = this.deps.config();
    const request = await readCreateRequest(body, { project, location }, this.deps.store, config);
    const createdAt = Date.now();
    // As Vertex names them: prediction-model-2026-01-02T03:04:05.678123Z (microseconds unique here).
    const stamp = new Date(createdAt).toISOString().replace('Z', `${String(this.folderSequence++ % 1000).padStart(3, '0')}Z`);
    const prefix = request.output.name.replace(/\/+$/, '');
    let id = newJobId();
    while (this.jobs.has(`projects/${project}/locations/${location}/batchPredictionJobs/${id}`)) id = newJobId();
    const job = new BatchJob({
      id,
      project,
      location,
      displayName: request.displayName,
      model: request.model,
      inputs: request.inputs,
      outputUriPrefix: request.outputUriPrefix,
      outputDirectory: { bucket: request.output.bucket, name: `${prefix ? `${prefix}/` : ''}prediction-model-${stamp}` },
      labels: request.labels,
      requestCount: request.requestCount,
      config: { ...config.batch },
      createdAt,
    });
    this.jobs.set(job.name, job);
    this.deps.count(project, job.fields.model, { batch_jobs: 1, batch_requests: job.fields.requestCount });
    this.start(job);
    return job.resource(Date.now());
  }

  private start(job: BatchJob): void {
    const runner = runBatchJob(job, {
      store: this.deps.store,
      count: (j, increments) => this.deps.count(j.fields.project, j.fields.model, increments),
      context: () => this.deps.context(),
      sleepUntil: (j, at) => this.sleepUntil(j, at),
      closed: () => this.closing,
    }).catch((error: unknown) => {
      // A runner bug must not take the emulator down: the job fails, as a Vertex job would.
      if (!job.final) job.final = { state: 'JOB_STATE_FAILED', at: Date.now(), error: { code: 13, message: `Internal error: ${(error as Error).message}` } };
    });
    this.runners.add(runner);
    void runner.finally(() => this.runners.delete(runner));
  }

  private require(project: string, location: string, id: string | undefined): BatchJob {
    const name = `projects/${project}/locations/${location}/batchPredictionJobs/${id ?? ''}`;
    const job = this.jobs.get(name);
    if (!job) throw notFound(`The BatchPredictionJob ${name} does not exist.`);
    return job;
  }

  private list(project: string, location: string, query: URLSearchParams): unknown {
    const now = Date.now();
    const matches = parseListFilter(query.get('filter'));
    // Newest first: the map holds jobs in creation order, so jobs created in the same millisecond keep
    // that order reversed (the sort is stable; their random ids say nothing about which came first).
    const all = [...this.jobs.values()]
      .filter((job) => job.fields.project === project && job.fields.location === location)
      .filter((job) => !matches || matches(job, now))
      .reverse()
      .sort((a, b) => b.fields.createdAt - a.fields.createdAt);
    const requested = Number(query.get('pageSize') ?? DEFAULT_PAGE_SIZE);
    const size = Number.isInteger(requested) && requested > 0 ? Math.min(requested, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
    const token = query.get('pageToken');
    const offset = token ? Number(Buffer.from(token, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw invalidArgument(`Invalid page token "${token ?? ''}".`);
    const page = all.slice(offset, offset + size);
    return {
      batchPredictionJobs: page.map((job) => job.resource(now)),
      ...(offset + size < all.length ? { nextPageToken: Buffer.from(String(offset + size)).toString('base64url') } : {}),
    };
  }

  private cancel(job: BatchJob): unknown {
    const now = Date.now();
    if (job.isFinal(now)) {
      throw failedPrecondition(`The BatchPredictionJob ${job.name} is in state ${job.state(now)} and cannot be cancelled.`);
    }
    if (job.cancelRequestedAt === undefined) {
      job.cancelRequestedAt = now;
      job.wake?.();
    }
    return {};
  }

  private delete(job: BatchJob): unknown {
    const now = Date.now();
    if (!job.isFinal(now)) {
      throw failedPrecondition(
        `The BatchPredictionJob ${job.name} is in state ${job.state(now)}: only a job that has finished can be deleted (cancel it first).`,
      );
    }
    this.jobs.delete(job.name);
    const time = new Date(now).toISOString();
    return {
      name: `projects/${job.fields.project}/locations/${job.fields.location}/operations/${newJobId()}`,
      metadata: { '@type': 'type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata', genericMetadata: { createTime: time, updateTime: time } },
      done: true,
      response: { '@type': 'type.googleapis.com/google.protobuf.Empty' },
    };
  }

  /**
   * `POST /_emulator/batch/expire`: every unfinished job (or the named one) ends EXPIRED now, as
   * a job that outlives Vertex's limits does; the lines answered so far are kept and billed.
   */
  expire(name?: string): string[] {
    const now = Date.now();
    const expired: string[] = [];
    for (const job of this.jobs.values()) {
      if ((name !== undefined && job.name !== name) || job.final || job.cancelRequestedAt !== undefined) continue;
      job.fields.config = { ...job.fields.config, expire_after_ms: Math.max(1, now - job.fields.createdAt) };
      job.wake?.();
      expired.push(job.name);
    }
    return expired;
  }

  private sleepUntil(job: BatchJob, at: number): Promise<void> {
    const ms = at - Date.now();
    if (ms <= 0 || this.closing || job.cancelRequestedAt !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        if (job.wake === done) job.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.timers.set(timer, done);
      job.wake = done;
    });
  }

  /** Stops every runner (their work is dropped) and waits for them to let go. */
  async close(): Promise<void> {
    this.closing = true;
    for (const done of [...this.timers.values()]) done();
    await Promise.allSettled([...this.runners]);
  }
}
