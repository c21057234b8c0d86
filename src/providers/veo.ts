import { GenerateVideosOperation, type GenerateVideosConfig, type GoogleGenAI } from '@google/genai';
import { QuotaExhaustedError, TransientError } from '../errors/provider-errors.js';
import { classifyOperationError } from '../resilience/classify-error.js';
import type { GeneratedMedia, OperationCheckpoint, Provider, ProviderRequest, ProviderResult, VideoOperationStatus } from './provider.js';
import { emptyUsage } from './provider.js';
import { compact } from './compact.js';
import { vertexLabels } from './gemini-reply.js';
import { ProviderParams } from './provider-params.js';
import { veoLimits, videoWithAudio } from './veo-limits.js';
import { badResponse, callVertex, httpOptionsFor } from './vertex-call.js';
import { steadyNow } from '../resilience/steady-clock.js';

/**
 * Video steps on Veo: a long-running operation. `startVideo` returns the operation's name, which the
 * engine checkpoints before polling; `pollVideo` needs nothing but that name, so a resumed process
 * can finish polling an operation it did not start.
 */
export const VEO_PARAMS = [
  'duration_seconds',
  'aspect_ratio',
  'resolution',
  'generate_audio',
  'negative_prompt',
  'seed',
  'sample_count',
  'storage_uri',
  'person_generation',
  'enhance_prompt',
] as const;

/** Veo's default clip length when the step does not set duration_seconds. */
const DEFAULT_DURATION_SECONDS = 8;

function params(request: Pick<ProviderRequest, 'params' | 'model'>): ProviderParams {
  return new ProviderParams(request.params, VEO_PARAMS, `a video step with ${request.model}`);
}

function videoConfig(request: ProviderRequest): GenerateVideosConfig {
  const p = params(request);
  return compact<GenerateVideosConfig>({
    numberOfVideos: p.number('sample_count'),
    durationSeconds: p.number('duration_seconds'),
    aspectRatio: p.string('aspect_ratio'),
    resolution: p.string('resolution'),
    // Sent to every model that makes audio, so the clip is priced as made (see videoWithAudio).
    generateAudio: veoLimits(request.model).audio ? videoWithAudio(request.model, request.params) : p.boolean('generate_audio'),
    negativePrompt: p.string('negative_prompt'),
    seed: p.number('seed'),
    outputGcsUri: p.string('storage_uri'),
    personGeneration: p.string('person_generation'),
    enhancePrompt: p.boolean('enhance_prompt'),
    labels: vertexLabels(request.labels),
  });
}

/** Starts a Veo operation and returns its name (`projects/…/operations/ID`). */
export async function startVideo(client: GoogleGenAI, request: ProviderRequest): Promise<string> {
  const config = await callVertex(async () => videoConfig(request));
  const operation = await callVertex(
    (abortSignal) => client.models.generateVideos({ model: request.model, source: { prompt: request.prompt }, config: { ...config, abortSignal } }),
    request,
  );
  if (!operation.name) throw badResponse('Vertex AI started a video operation but returned no operation name.', emptyUsage());
  return operation.name;
}

/** getVideosOperation takes no abort signal, so cancellation is raced beside it. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

/**
 * Polls a Veo operation by name. `request` (optional) supplies the step's params, to bill the right
 * number of seconds, and the signal and timeout for the call.
 */
export async function pollVideo(
  client: GoogleGenAI,
  operationName: string,
  request?: Pick<ProviderRequest, 'params' | 'model' | 'signal' | 'timeoutMs'>,
): Promise<VideoOperationStatus> {
  const durationSeconds = (request ? params(request).number('duration_seconds') : undefined) ?? DEFAULT_DURATION_SECONDS;
  // Rebuilt from the name alone: the SDK only needs `name` to fetch the operation.
  const handle = new GenerateVideosOperation();
  handle.name = operationName;
  const operation = await callVertex(() =>
    abortable(client.operations.getVideosOperation({ operation: handle, config: { ...httpOptionsFor(request ?? {}) } }), request?.signal),
  );
  if (!operation.done) return { done: false };
  if (operation.error) throw classifyOperationError(operation.error, operationName);

  const response = operation.response;
  const media: GeneratedMedia[] = [];
  for (const generated of response?.generatedVideos ?? []) {
    const video = generated.video;
    if (!video || (!video.videoBytes && !video.uri)) continue;
    media.push({
      mimeType: video.mimeType ?? 'video/mp4',
      data: video.videoBytes ? Buffer.from(video.videoBytes, 'base64') : Buffer.alloc(0),
      ...(video.uri ? { uri: video.uri } : {}),
    });
  }
  const usage = { ...emptyUsage(), videoSeconds: durationSeconds * media.length };
  if (media.length > 0) return { done: true, result: { media, usage } };
  const filteredCount = response?.raiMediaFilteredCount ?? 0;
  if (filteredCount > 0 || (response?.raiMediaFilteredReasons?.length ?? 0) > 0) {
    const reason = response?.raiMediaFilteredReasons?.join(' ') || `${filteredCount} video(s) removed by the safety filters.`;
    return { done: true, result: { filtered: { reason }, usage } };
  }
  throw badResponse(`Video operation ${operationName} finished without any video.`, usage);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface VeoPolling {
  /** First wait before polling; later waits grow by `factor` up to `maxMs`. */
  firstMs: number;
  factor: number;
  maxMs: number;
  /** Give up (transient error) when the operation runs longer than this. */
  giveUpAfterMs: number;
}

/** Consecutive failed polls tolerated before the call fails. */
const MAX_FAILED_POLLS = 5;

const DEFAULT_POLLING: VeoPolling = { firstMs: 500, factor: 1.5, maxMs: 10_000, giveUpAfterMs: 30 * 60_000 };

export class VeoProvider implements Provider {
  readonly task = 'video' as const;
  private readonly polling: VeoPolling;

  constructor(polling: Partial<VeoPolling> = {}) {
    this.polling = { ...DEFAULT_POLLING, ...polling };
  }

  start(client: GoogleGenAI, request: ProviderRequest): Promise<string> {
    return startVideo(client, request);
  }

  poll(client: GoogleGenAI, operationName: string, request: ProviderRequest): Promise<VideoOperationStatus> {
    return pollVideo(client, operationName, request);
  }

  /** How the engine spaces the polls of a parked operation. */
  get pollingPlan(): VeoPolling {
    return this.polling;
  }

  /**
   * Start, then poll with growing waits until done. A failed poll is retried here (polls are free),
   * because failing the call would make the engine start, and pay for, a second video.
   */
  async call(client: GoogleGenAI, request: ProviderRequest): Promise<ProviderResult> {
    return this.callResumable(client, request, { operationName: undefined, save: () => undefined });
  }

  /** Polls the checkpointed operation when there is one; otherwise starts one and saves its name first. */
  async callResumable(client: GoogleGenAI, request: ProviderRequest, checkpoint: OperationCheckpoint): Promise<ProviderResult> {
    let name = checkpoint.operationName;
    if (!name) {
      name = await startVideo(client, request);
      checkpoint.save(name);
    }
    const started = steadyNow();
    let wait = this.polling.firstMs;
    let failedPolls = 0;
    for (;;) {
      await callVertex(() => sleep(wait, request.signal));
      wait = Math.min(this.polling.maxMs, wait * this.polling.factor);
      let status: VideoOperationStatus;
      try {
        status = await pollVideo(client, name, request);
        failedPolls = 0;
      } catch (error) {
        const retryable = (error instanceof TransientError || error instanceof QuotaExhaustedError) && !request.signal?.aborted;
        if (!retryable || ++failedPolls > MAX_FAILED_POLLS) throw error;
        continue;
      }
      if (status.done && status.result) return status.result;
      if (steadyNow() - started > this.polling.giveUpAfterMs) {
        throw new TransientError(
          `Video operation ${name} was still running after ${Math.round(this.polling.giveUpAfterMs / 60_000)} min; resume to poll it again.`,
          {},
        );
      }
    }
  }
}
