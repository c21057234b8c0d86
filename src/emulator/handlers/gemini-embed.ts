import { fakeEmbedding } from '../fake-embedding.js';
import { EMBEDDING_MAX_INPUT_TOKENS } from '../model-family.js';
import { countTextTokens } from '../token-count.js';
import { invalidArgument } from '../vertex-error.js';
import { embeddingDimensions } from './embeddings-predict.js';
import type { HandlerContext, HandlerOutcome, ModelCall } from './model-call.js';
import { asObject, optionalString, type Json } from './request-fields.js';

/**
 * Embeddings on the Gemini API: `:embedContent` (one `content`) and `:batchEmbedContents` (a list
 * of such requests; what the SDK always sends). The vectors are the Vertex ones for the same model,
 * text and task type. Inputs above the model's limit are truncated silently, as the Gemini API does.
 */

/** Requests per :batchEmbedContents call. */
const MAX_BATCH_REQUESTS = 100;

interface Embedded {
  values: number[];
  tokens: number;
}

function embedOne(call: ModelCall, ctx: HandlerContext, request: Json, where: string): Embedded {
  const content = asObject(request.content);
  const parts = Array.isArray(content?.parts) ? content.parts : [];
  const texts = parts.flatMap((part) => {
    const text = asObject(part)?.text;
    return typeof text === 'string' ? [text] : [];
  });
  if (texts.length === 0) throw invalidArgument(`* ${where}.content.parts: contents.parts must not be empty.`);
  const text = texts.join(' ');
  const model = optionalString(request.model, `${where}.model`);
  if (model !== undefined && model !== `models/${call.model}`) {
    throw invalidArgument(`* ${where}.model: the model of each request (${model}) must be the model of the call (models/${call.model}).`);
  }
  const taskType = optionalString(request.taskType, `${where}.taskType`) ?? '';
  const dimensions = embeddingDimensions(call.model, request.outputDimensionality, `${where}.outputDimensionality`);
  return {
    values: fakeEmbedding(ctx.config.seed, call.model, taskType, text, dimensions),
    tokens: Math.min(countTextTokens(text), EMBEDDING_MAX_INPUT_TOKENS),
  };
}

export function geminiEmbedContent(call: ModelCall, ctx: HandlerContext): HandlerOutcome {
  const { values, tokens } = embedOne(call, ctx, call.body, 'EmbedContentRequest');
  return { body: { embedding: { values } }, usage: { input_tokens: tokens } };
}

export function geminiBatchEmbedContents(call: ModelCall, ctx: HandlerContext): HandlerOutcome {
  const requests = call.body.requests;
  if (!Array.isArray(requests) || requests.length === 0) throw invalidArgument('* BatchEmbedContentsRequest.requests: must not be empty.');
  if (requests.length > MAX_BATCH_REQUESTS) {
    throw invalidArgument(`* BatchEmbedContentsRequest.requests: at most ${MAX_BATCH_REQUESTS} requests can be in one batch`);
  }
  let inputTokens = 0;
  const embeddings = requests.map((request, i) => {
    const where = `BatchEmbedContentsRequest.requests[${i}]`;
    const object = asObject(request);
    if (!object) throw invalidArgument(`* ${where}: expected an EmbedContentRequest object.`);
    const { values, tokens } = embedOne(call, ctx, object, where);
    inputTokens += tokens;
    return { values };
  });
  return { body: { embeddings }, usage: { input_tokens: inputTokens } };
}
