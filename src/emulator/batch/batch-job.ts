import type { BatchConfig } from '../emulator-config.js';
import type { Blob } from '../storage/blob.js';
import type { GcsLocation } from '../storage/gcs-uri.js';

/**
 * One emulated `batchPredictionJob`. Its schedule is fixed when it is created (from the `batch`
 * config of that moment): QUEUED for the first half of `queue_ms`, PENDING for the second half,
 * RUNNING from then on while its lines complete, then a final state set by its runner. The state a
 * GET sees is worked out from the clock, so no timer is needed to move it along.
 */
export type JobState =
  | 'JOB_STATE_QUEUED'
  | 'JOB_STATE_PENDING'
  | 'JOB_STATE_RUNNING'
  | 'JOB_STATE_SUCCEEDED'
  | 'JOB_STATE_PARTIALLY_SUCCEEDED'
  | 'JOB_STATE_FAILED'
  | 'JOB_STATE_CANCELLING'
  | 'JOB_STATE_CANCELLED'
  | 'JOB_STATE_EXPIRED';

export type FinalState = Extract<
  JobState,
  'JOB_STATE_SUCCEEDED' | 'JOB_STATE_PARTIALLY_SUCCEEDED' | 'JOB_STATE_FAILED' | 'JOB_STATE_CANCELLED' | 'JOB_STATE_EXPIRED'
>;

/** google.rpc.Status, as in a job's `error`. */
export interface RpcStatus {
  code: number;
  message: string;
}

export interface BatchInput {
  uri: string;
  blob: Blob;
}

export interface BatchJobFields {
  id: string;
  project: string;
  location: string;
  displayName: string;
  /** The model id, e.g. gemini-2.5-flash. */
  model: string;
  inputs: BatchInput[];
  outputUriPrefix: string;
  /** Where the predictions go: `{outputUriPrefix}/prediction-model-{timestamp}`. */
  outputDirectory: GcsLocation;
  labels: Record<string, string> | undefined;
  requestCount: number;
  config: BatchConfig;
  createdAt: number;
}

export class BatchJob {
  readonly name: string;
  succeeded = 0;
  failed = 0;
  cancelRequestedAt: number | undefined;
  /** Set by the runner when it is done; `at` may lie ahead (CANCELLING until then). */
  final: { state: FinalState; at: number; error?: RpcStatus } | undefined;
  /** Ends the runner's current wait early (a cancel, an expiry, the emulator closing). */
  wake: (() => void) | undefined;

  constructor(readonly fields: BatchJobFields) {
    this.name = `projects/${fields.project}/locations/${fields.location}/batchPredictionJobs/${fields.id}`;
  }

  get runStartAt(): number {
    return this.fields.createdAt + this.fields.config.queue_ms;
  }

  get expireAt(): number | undefined {
    const after = this.fields.config.expire_after_ms;
    return after === undefined ? undefined : this.fields.createdAt + after;
  }

  /** Whether a final state is set and due (a CANCELLED job shows CANCELLING for `cancel_ms` first). */
  isFinal(now: number): boolean {
    return this.final !== undefined && now >= this.final.at;
  }

  state(now: number): JobState {
    if (this.final && now >= this.final.at) return this.final.state;
    if (this.cancelRequestedAt !== undefined) return 'JOB_STATE_CANCELLING';
    if (now < this.fields.createdAt + this.fields.config.queue_ms / 2) return 'JOB_STATE_QUEUED';
    if (now < this.runStartAt) return 'JOB_STATE_PENDING';
    return 'JOB_STATE_RUNNING';
  }

  /** Whether the job entered RUNNING (not if it was cancelled or expired while waiting). */
  private started(now: number): boolean {
    const endedAt = Math.min(this.cancelRequestedAt ?? Infinity, this.final?.at ?? Infinity);
    return now >= this.runStartAt && endedAt >= this.runStartAt;
  }

  /** The job as Vertex returns it (int64 counts as strings, times as RFC 3339). */
  resource(now: number): Record<string, unknown> {
    const f = this.fields;
    const iso = (ms: number): string => new Date(ms).toISOString();
    const started = this.started(now);
    const final = this.final && now >= this.final.at ? this.final : undefined;
    const changes = [f.createdAt, f.createdAt + f.config.queue_ms / 2, this.runStartAt, this.cancelRequestedAt ?? 0, final?.at ?? 0].filter((t) => t <= now);
    return {
      name: this.name,
      displayName: f.displayName,
      model: `publishers/google/models/${f.model}`,
      inputConfig: { instancesFormat: 'jsonl', gcsSource: { uris: f.inputs.map((input) => input.uri) } },
      outputConfig: { predictionsFormat: 'jsonl', gcsDestination: { outputUriPrefix: f.outputUriPrefix } },
      state: this.state(now),
      ...(final?.error ? { error: final.error } : {}),
      ...(started
        ? {
            outputInfo: { gcsOutputDirectory: `gs://${f.outputDirectory.bucket}/${f.outputDirectory.name}` },
            completionStats: {
              successfulCount: String(this.succeeded),
              failedCount: String(this.failed),
              incompleteCount: String(f.requestCount - this.succeeded - this.failed),
            },
          }
        : {}),
      createTime: iso(f.createdAt),
      ...(started ? { startTime: iso(this.runStartAt) } : {}),
      ...(final ? { endTime: iso(final.at) } : {}),
      updateTime: iso(Math.max(...changes)),
      ...(f.labels ? { labels: f.labels } : {}),
    };
  }
}
