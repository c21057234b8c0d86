import type { EmbedContentConfig, GoogleGenAI } from '@google/genai';
import { InvalidRequestError } from '../errors/provider-errors.js';
import { heuristicTokens } from './token-heuristics.js';
import type { Provider, ProviderRequest, ProviderResult, Usage } from './provider.js';
import { emptyUsage } from './provider.js';
import { ProviderParams } from './provider-params.js';
import { badResponse, callVertex } from './vertex-call.js';

/** Embedding steps: :predict through client.models.embedContent, several texts per call. */
export const EMBEDDING_PARAMS = ['output_dimensionality', 'task_type', 'title', 'auto_truncate'] as const;

/** Texts one call may carry: Vertex takes 250 instances, but gemini-embedding-001 only one. */
export function maxEmbeddingBatch(model: string): number {
  return model.startsWith('gemini-embedding') ? 1 : 250;
}

/**
 * Input tokens one :predict request may carry, all texts together: Vertex refuses a text-embedding-005
 * (or text-multilingual-embedding-002) request above 20,000 tokens with a 400, however few its texts.
 * gemini-embedding-001 takes one text per request, so only the per-text limit applies to it.
 */
export const MAX_EMBEDDING_REQUEST_TOKENS = 20_000;

/** Texts the Gemini API reads of each input (longer ones are truncated there): what it bills at most. */
const GEMINI_API_EMBEDDING_INPUT_TOKENS = 2048;

function embeddingConfig(request: ProviderRequest): EmbedContentConfig {
  const params = new ProviderParams(request.params, EMBEDDING_PARAMS, `an embedding step with ${request.model}`);
  const config: EmbedContentConfig = {};
  const outputDimensionality = params.number('output_dimensionality');
  const taskType = params.string('task_type');
  const title = params.string('title');
  const autoTruncate = params.boolean('auto_truncate');
  if (outputDimensionality !== undefined) config.outputDimensionality = outputDimensionality;
  if (taskType !== undefined) config.taskType = taskType;
  if (title !== undefined) config.title = title;
  if (autoTruncate !== undefined) config.autoTruncate = autoTruncate;
  return config;
}

export class EmbeddingProvider implements Provider {
  readonly task = 'embedding' as const;

  async call(client: GoogleGenAI, request: ProviderRequest): Promise<ProviderResult> {
    const texts = request.texts ?? [request.prompt];
    const config = await callVertex(async () => {
      if (texts.length === 0) throw new InvalidRequestError('An embedding call needs at least one text.', {});
      return embeddingConfig(request);
    });
    const response = await callVertex(
      (abortSignal) => client.models.embedContent({ model: request.model, contents: texts, config: { ...config, abortSignal } }),
      request,
    );
    const embeddings = response.embeddings ?? [];
    const usage: Usage = {
      ...emptyUsage(),
      inputTokens: embeddings.reduce((sum, e) => sum + (e.statistics?.tokenCount ?? 0), 0),
      characters: response.metadata?.billableCharacterCount ?? 0,
    };
    // The Gemini API's batchEmbedContents reports no token counts at all: genbatch counts them (the
    // local bound, never under Gemini's count; no extra request), so the call is priced and max_usd
    // holds, and the ledger marks the count as genbatch's.
    if (embeddings.length > 0 && embeddings.every((e) => e.statistics?.tokenCount === undefined) && response.metadata?.billableCharacterCount === undefined) {
      usage.inputTokens = texts.reduce((sum, text) => sum + Math.min(heuristicTokens(text), GEMINI_API_EMBEDDING_INPUT_TOKENS), 0);
      usage.countedByGenbatch = true;
    }
    if (embeddings.length !== texts.length) {
      throw badResponse(`Vertex AI returned ${embeddings.length} embeddings for ${texts.length} texts.`, usage);
    }
    const vectors = embeddings.map((e, i) => {
      if (!Array.isArray(e.values) || e.values.length === 0) throw badResponse(`Embedding ${i} came back without values.`, usage);
      return e.values;
    });
    return { vectors, usage };
  }
}
