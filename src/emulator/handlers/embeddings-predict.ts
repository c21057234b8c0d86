import { defaultEmbeddingDimensions, EMBEDDING_MAX_INPUT_TOKENS, maxEmbeddingInstances } from '../model-family.js';
import { fakeEmbedding } from '../fake-embedding.js';
import { billableCharacters, countTextTokens } from '../token-count.js';
import { invalidArgument } from '../vertex-error.js';
import type { HandlerContext, HandlerOutcome, ModelCall } from './model-call.js';
import { asObject, instancesOf, optionalNumber } from './request-fields.js';

/** Input tokens of all the texts of one :predict request, at most (Vertex's text embedding models). */
export const MAX_REQUEST_TOKENS = 20_000;

/** The vector size a request asks for (the model's full size by default), refused outside 1..full size. */
export function embeddingDimensions(model: string, requested: unknown, field: string): number {
  const maxDimensions = defaultEmbeddingDimensions(model);
  const dimensions = optionalNumber(requested, field) ?? maxDimensions;
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > maxDimensions) {
    throw invalidArgument(`outputDimensionality must be an integer between 1 and ${maxDimensions} for ${model}, got ${dimensions}.`);
  }
  return dimensions;
}

/** :predict for text embeddings: one unit vector per instance, with Vertex's statistics. */
export function embeddingsPredict(call: ModelCall, ctx: HandlerContext): HandlerOutcome {
  const instances = instancesOf(call.body);
  const limit = maxEmbeddingInstances(call.model);
  if (instances.length > limit) {
    throw invalidArgument(
      limit === 1
        ? `Unable to submit request because ${call.model} only supports one instance per request, but ${instances.length} were given.`
        : `Unable to submit request because the number of instances (${instances.length}) exceeds the maximum of ${limit} per request for ${call.model}.`,
    );
  }
  // Vertex's limit on a whole request (text-embedding-005 and text-multilingual-embedding-002): its
  // input texts together, before any truncation, at most 20,000 tokens, however few they are.
  if (limit > 1) {
    const requestTokens = instances.reduce((sum, instance) => sum + (typeof instance.content === 'string' ? countTextTokens(instance.content) : 0), 0);
    if (requestTokens > MAX_REQUEST_TOKENS) {
      throw invalidArgument(
        `Unable to submit request because the input token count is ${requestTokens} but ${call.model} only supports up to ${MAX_REQUEST_TOKENS} tokens per request. Reduce the input token count and try again.`,
      );
    }
  }
  const parameters = asObject(call.body.parameters) ?? {};
  const dimensions = embeddingDimensions(call.model, parameters.outputDimensionality, 'parameters.outputDimensionality');
  const autoTruncate = parameters.autoTruncate !== false;

  let inputTokens = 0;
  let characters = 0;
  const predictions = instances.map((instance, i) => {
    const content = instance.content;
    if (typeof content !== 'string') throw invalidArgument(`Invalid value at 'instances[${i}].content': expected a string.`);
    let tokens = countTextTokens(content);
    const truncated = tokens > EMBEDDING_MAX_INPUT_TOKENS;
    if (truncated && !autoTruncate) {
      throw invalidArgument(
        `Input instances[${i}] has ${tokens} tokens, more than the ${EMBEDDING_MAX_INPUT_TOKENS} ${call.model} accepts; shorten it or set autoTruncate.`,
      );
    }
    if (truncated) tokens = EMBEDDING_MAX_INPUT_TOKENS;
    inputTokens += tokens;
    characters += billableCharacters(content);
    const taskType = typeof instance.task_type === 'string' ? instance.task_type : '';
    return {
      embeddings: { values: fakeEmbedding(ctx.config.seed, call.model, taskType, content, dimensions), statistics: { token_count: tokens, truncated } },
    };
  });
  return { body: { predictions, metadata: { billableCharacterCount: characters } }, usage: { input_tokens: inputTokens } };
}
