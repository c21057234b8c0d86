/** What kind of Vertex model a name refers to, and the emulator's defaults for each family. */
export type ModelFamily = 'gemini' | 'gemini-image' | 'imagen' | 'embedding' | 'veo';

export function modelFamily(model: string): ModelFamily | undefined {
  if (/^(text-embedding-|text-multilingual-embedding-|gemini-embedding-)/.test(model)) return 'embedding';
  if (model.startsWith('imagen-')) return 'imagen';
  if (model.startsWith('veo-')) return 'veo';
  if (model.startsWith('gemini-')) return model.includes('image') ? 'gemini-image' : 'gemini';
  return undefined;
}

/** Which REST methods each family answers, as on Vertex. */
export const FAMILY_METHODS: Record<ModelFamily, readonly string[]> = {
  gemini: ['generateContent', 'countTokens'],
  'gemini-image': ['generateContent', 'countTokens'],
  imagen: ['predict'],
  embedding: ['predict', 'countTokens'],
  veo: ['predictLongRunning', 'fetchPredictOperation'],
};

/**
 * Which methods each family answers on the Gemini Developer API: embeddings are `embedContent` /
 * `batchEmbedContents` there (not `:predict`), and a Veo operation is polled with a GET of its name
 * (`getOperation` here).
 */
export const GEMINI_API_METHODS: Record<ModelFamily, readonly string[]> = {
  gemini: ['generateContent', 'countTokens'],
  'gemini-image': ['generateContent', 'countTokens'],
  imagen: ['predict'],
  embedding: ['embedContent', 'batchEmbedContents', 'countTokens'],
  veo: ['predictLongRunning', 'getOperation'],
};

export interface TokenDistribution {
  mean: number;
  sd: number;
}

/** Reply lengths when the config does not say: lighter models answer shorter. */
export function defaultOutputTokens(model: string): TokenDistribution {
  if (model.includes('lite')) return { mean: 150, sd: 60 };
  if (model.includes('pro')) return { mean: 400, sd: 150 };
  return { mean: 250, sd: 100 };
}

/** Default embedding sizes of the Vertex models. */
export function defaultEmbeddingDimensions(model: string): number {
  return model.startsWith('gemini-embedding') ? 3072 : 768;
}

/**
 * The context window of a Gemini model for the prompt, in tokens, as Vertex enforces it: a request
 * above it is answered 400 INVALID_ARGUMENT. Gemini 2.5 models take 1,048,576; the image model 32,768.
 */
export function geminiInputTokenLimit(model: string): number {
  return modelFamily(model) === 'gemini-image' ? 32_768 : 1_048_576;
}

/** Largest input each embedding model reads, in tokens (longer inputs are truncated or refused). */
export const EMBEDDING_MAX_INPUT_TOKENS = 2048;

/** Instances accepted in one :predict call. */
export function maxEmbeddingInstances(model: string): number {
  return model === 'gemini-embedding-001' ? 1 : 250;
}

/** Output tokens Vertex bills per generated image for Gemini image models. */
export const TOKENS_PER_GEMINI_IMAGE = 1290;

/**
 * How a Gemini 2.5 model thinks, from Google's "Thinking" pages (Vertex AI and the Gemini API,
 * checked December 2026): the budgets it accepts (`min`..`max`, plus -1 for dynamic thinking),
 * whether 0 turns thinking off (2.5 Pro cannot), and whether it thinks when the request sets no
 * budget (2.5 Flash-Lite does not). `wants` is how much the emulated model thinks when left to
 * decide: its default, replaced by a model's `thoughts_tokens` in the emulator config.
 */
export interface ThinkingSpec {
  min: number;
  max: number;
  canTurnOff: boolean;
  onByDefault: boolean;
  wants: TokenDistribution;
}

export function thinkingSpec(model: string): ThinkingSpec | undefined {
  if (modelFamily(model) !== 'gemini') return undefined;
  if (model.startsWith('gemini-2.5-flash-lite')) return { min: 512, max: 24_576, canTurnOff: true, onByDefault: false, wants: { mean: 600, sd: 250 } };
  if (model.startsWith('gemini-2.5-pro')) return { min: 128, max: 32_768, canTurnOff: false, onByDefault: true, wants: { mean: 1500, sd: 600 } };
  if (model.startsWith('gemini-2.5-flash')) return { min: 1, max: 24_576, canTurnOff: true, onByDefault: true, wants: { mean: 900, sd: 400 } };
  return undefined;
}

/** maxOutputTokens when a request sets none: Gemini 2.5 models reply (thinking included) up to 65,536 tokens. */
export const GEMINI_MAX_OUTPUT_TOKENS = 65_536;
