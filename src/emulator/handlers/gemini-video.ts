import { placeholderVideo } from '../fake-video.js';
import { notFound } from '../vertex-error.js';
import type { HandlerContext, HandlerOutcome, ModelCall } from './model-call.js';
import { optionalString } from './request-fields.js';
import { BLOCKED_VIDEO_REASON } from './video-operations.js';
import type { VideoOperation, VideoOperations } from './video-operation-store.js';

/**
 * Veo on the Gemini API: the operation is polled with `GET /v1beta/models/{model}/operations/{id}`,
 * and a finished one lists each video as a file URI to download (the SDK's `ai.files.download`
 * turns `https://generativelanguage.googleapis.com/v1beta/files/{id}:download` into
 * `{baseUrl}/v1beta/files/{id}:download`, so downloads come back to the emulator).
 */

/** Where Google serves generated videos; the SDK keeps only the file id and asks its own base URL. */
const FILES_URL = 'https://generativelanguage.googleapis.com/v1beta/files';

/** A video's file id: the operation id, `v`, the sample index (lowercase letters and digits only, as the SDK expects). */
function fileId(operation: VideoOperation, index: number): string {
  return `${operation.id}v${index}`;
}

/** The poll. `call.body.operationName` is the operation's name, taken from the URL. */
export function getGeminiOperation(call: ModelCall, ctx: HandlerContext): HandlerOutcome {
  const name = optionalString(call.body.operationName, 'operationName') ?? '';
  const operation = ctx.operations.get(name);
  if (!operation || operation.api !== 'gemini' || operation.project !== call.project) throw notFound(`Operation ${name} not found.`);
  // A running operation is just its name: proto JSON leaves `done: false` out.
  if (ctx.now() < operation.doneAt) return { body: { name }, usage: {} };
  const generateVideoResponse = operation.blocked
    ? { raiMediaFilteredCount: operation.sampleCount, raiMediaFilteredReasons: [BLOCKED_VIDEO_REASON] }
    : {
        generatedSamples: Array.from({ length: operation.sampleCount }, (_, i) => ({
          video: { uri: `${FILES_URL}/${fileId(operation, i)}:download?alt=media` },
        })),
      };
  return {
    body: {
      name,
      done: true,
      response: { '@type': 'type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse', generateVideoResponse },
    },
    usage: {},
  };
}

/** The bytes of a finished video, for its key's project only (another project's file is not found). */
export function geminiVideoFile(operations: VideoOperations, id: string, project: string, seed: number, now: number): Buffer {
  const match = /^([a-z0-9]+)v(\d+)$/.exec(id);
  const operation = match ? operations.getById(match[1] ?? '') : undefined;
  const index = Number(match?.[2] ?? -1);
  if (
    !operation ||
    operation.api !== 'gemini' ||
    operation.project !== project ||
    operation.blocked ||
    now < operation.doneAt ||
    index >= operation.sampleCount
  ) {
    throw notFound(`File files/${id} not found.`);
  }
  return placeholderVideo(seed, operation.model, operation.prompt, index, operation.durationSeconds);
}
