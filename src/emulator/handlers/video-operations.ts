import { randomBytes, randomUUID } from 'node:crypto';
import { placeholderVideo } from '../fake-video.js';
import { parseGcsUri } from '../storage/gcs-uri.js';
import { invalidArgument, notFound } from '../vertex-error.js';
import type { VideoOperation } from './video-operation-store.js';
import type { HandlerContext, HandlerOutcome, ModelCall } from './model-call.js';
import { asObject, instancesOf, isBlocked, optionalNumber, optionalString } from './request-fields.js';

/**
 * Veo's long-running operations: :predictLongRunning starts one and returns its name;
 * :fetchPredictOperation reports `done: false` until `video_ms` has passed, then the videos.
 */
const ASPECT_RATIOS = ['16:9', '9:16'];

export const BLOCKED_VIDEO_REASON = 'The prompt could not be submitted: it contains terms the safety filters block (emulator blocked_terms).';

export function predictLongRunning(call: ModelCall, ctx: HandlerContext): HandlerOutcome {
  const instances = instancesOf(call.body);
  const prompt = optionalString(instances[0]?.prompt, 'instances[0].prompt') ?? '';
  if (prompt === '' && instances[0]?.image === undefined) throw invalidArgument('A prompt or an image is required to generate a video.');
  const parameters = asObject(call.body.parameters) ?? {};
  const sampleCount = optionalNumber(parameters.sampleCount, 'parameters.sampleCount') ?? 1;
  if (!Number.isInteger(sampleCount) || sampleCount < 1 || sampleCount > 4) throw invalidArgument(`sampleCount must be between 1 and 4, got ${sampleCount}.`);
  const durationSeconds = optionalNumber(parameters.durationSeconds, 'parameters.durationSeconds') ?? 8;
  if (!Number.isInteger(durationSeconds) || durationSeconds < 1 || durationSeconds > 60) {
    throw invalidArgument(`durationSeconds must be a whole number of seconds between 1 and 60, got ${durationSeconds}.`);
  }
  const aspectRatio = optionalString(parameters.aspectRatio, 'parameters.aspectRatio');
  if (aspectRatio !== undefined && !ASPECT_RATIOS.includes(aspectRatio)) throw invalidArgument(`Unsupported aspect ratio "${aspectRatio}"; use 16:9 or 9:16.`);
  const storageUri = optionalString(parameters.storageUri, 'parameters.storageUri');
  if (storageUri !== undefined && call.api === 'gemini') throw invalidArgument('storageUri is not supported by the Gemini API.');
  if (storageUri !== undefined && !storageUri.startsWith('gs://'))
    throw invalidArgument(`storageUri must be a Cloud Storage URI (gs://...), got "${storageUri}".`);

  const generateAudio = parameters.generateAudio;
  if (generateAudio !== undefined && typeof generateAudio !== 'boolean') throw invalidArgument('parameters.generateAudio must be a boolean.');
  const veo2 = call.model.startsWith('veo-2');
  if (veo2 && generateAudio === true) throw invalidArgument(`generateAudio is not supported by ${call.model}.`);

  // Vertex names operations by project and a UUID; the Gemini API by model and a short lowercase id.
  const id = call.api === 'gemini' ? randomBytes(6).toString('hex') : randomUUID();
  const name =
    call.api === 'gemini'
      ? `models/${call.model}/operations/${id}`
      : `projects/${call.project}/locations/${call.location}/publishers/google/models/${call.model}/operations/${id}`;
  const blocked = isBlocked(prompt, ctx.config.blocked_terms);
  ctx.operations.add({
    api: call.api,
    name,
    id,
    project: call.project,
    model: call.model,
    prompt,
    sampleCount,
    durationSeconds,
    storageUri,
    audio: !veo2 && generateAudio !== false,
    blocked,
    doneAt: ctx.now() + ctx.config.video_ms,
  });
  return { body: { name }, usage: { videos_seconds: blocked ? 0 : durationSeconds * sampleCount } };
}

/** Writes an operation's videos where `storageUri` asked, once, and returns their gs:// URIs. */
async function storeVideos(operation: VideoOperation, id: string, ctx: HandlerContext): Promise<string[]> {
  const base = (operation.storageUri ?? '').replace(/\/+$/, '');
  const uris = Array.from({ length: operation.sampleCount }, (_, i) => `${base}/${id}/sample_${i}.mp4`);
  if (operation.stored || !ctx.objects) return uris;
  operation.stored = true;
  for (const [i, uri] of uris.entries()) {
    const location = parseGcsUri(uri);
    if (!location) continue;
    const writer = ctx.objects.writer();
    await writer.write(placeholderVideo(ctx.config.seed, operation.model, operation.prompt, i, operation.durationSeconds));
    ctx.objects.put(location.bucket, location.name, await writer.finish(), { contentType: 'video/mp4' });
  }
  return uris;
}

export async function fetchPredictOperation(call: ModelCall, ctx: HandlerContext): Promise<HandlerOutcome> {
  const name = optionalString(call.body.operationName, 'operationName');
  if (!name) throw invalidArgument('operationName is required.');
  const operation = ctx.operations.get(name);
  if (!operation || operation.api !== 'vertex' || operation.project !== call.project || operation.model !== call.model) {
    throw notFound(`Operation "${name}" was not found.`);
  }
  if (ctx.now() < operation.doneAt) return { body: { name, done: false }, usage: {} };

  const response: Record<string, unknown> = { '@type': 'type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse' };
  if (operation.blocked) {
    response.raiMediaFilteredCount = operation.sampleCount;
    response.raiMediaFilteredReasons = [BLOCKED_VIDEO_REASON];
  } else {
    const id = name.slice(name.lastIndexOf('/') + 1);
    // With storageUri, Vertex writes the videos to Cloud Storage and returns only their gs:// URIs.
    response.videos =
      operation.storageUri === undefined
        ? Array.from({ length: operation.sampleCount }, (_, i) => ({
            bytesBase64Encoded: placeholderVideo(ctx.config.seed, operation.model, operation.prompt, i, operation.durationSeconds).toString('base64'),
            mimeType: 'video/mp4',
          }))
        : (await storeVideos(operation, id, ctx)).map((gcsUri) => ({ gcsUri, mimeType: 'video/mp4' }));
    response.raiMediaFilteredCount = 0;
  }
  return { body: { name, done: true, response }, usage: {} };
}
