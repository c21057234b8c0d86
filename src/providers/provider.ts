import type { GoogleGenAI } from '@google/genai';

/** What kind of generation a step does. */
export type TaskKind = 'text' | 'image' | 'embedding' | 'video';

/** A JSON Schema (the subset Vertex accepts as `responseSchema`). */
export type JsonSchema = Record<string, unknown>;

/** One fully rendered model call, independent of any item or store. */
export interface ProviderRequest {
  task: TaskKind;
  model: string;
  /** Rendered prompt. For embeddings, `texts` is used instead. */
  prompt: string;
  /** Several texts in one embedding request (batching). */
  texts?: string[];
  system?: string;
  /**
   * Text and JSON steps: an explicit context cache (`projects/P/locations/L/cachedContents/ID`, see
   * context-cache.ts) holding the static prefix, sent as the SDK's `config.cachedContent`. As on
   * Vertex, a request naming a cache must not also carry `system` (400 INVALID_ARGUMENT).
   */
  cachedContent?: string;
  /** When set, the reply must be JSON matching this schema (responseMimeType + responseSchema). */
  jsonSchema?: JsonSchema;
  maxOutputTokens?: number;
  /** Text steps: the thinking budget to send (the step's or the model's default), so that thinking is bounded. */
  thinkingBudget?: number;
  temperature?: number;
  /** Task parameters from the job file, snake_case as written there (aspect_ratio, sample_count, ...). */
  params: Record<string, unknown>;
  /**
   * Text and JSON steps: what to do with a reply cut at max_output_tokens (finish reason MAX_TOKENS):
   * `fail` (the default) throws TruncatedReplyError; `keep` accepts it, marked `truncated`.
   */
  onTruncated?: 'fail' | 'keep';
  /** Labels sent with Gemini calls (run id, item id), useful in Cloud billing. */
  labels?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** What was billed: everything the price catalog needs. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Thinking tokens, billed at the output price. */
  thoughtsTokens: number;
  images: number;
  videoSeconds: number;
  /** Billable characters (text-embedding-005 is priced per 1K characters). */
  characters: number;
  /** Input tokens served from a context cache (usageMetadata.cachedContentTokenCount): part of `inputTokens`, billed at the cached price. */
  cachedTokens: number;
  /** How Vertex served the call (usageMetadata.trafficType): ON_DEMAND, PROVISIONED_THROUGHPUT (prepaid: $0 marginal cost), flex/priority kinds. */
  trafficType?: string;
  /** The API reported no token counts, so genbatch counted the input tokens itself (Gemini API embeddings). */
  countedByGenbatch?: boolean;
}

export interface GeneratedMedia {
  mimeType: string;
  data: Buffer;
  /** For video results stored in Cloud Storage instead of inline bytes. */
  uri?: string;
  /** Why the bytes at `uri` could not be read (the output is then refused, never written empty). */
  unreadable?: string;
}

export interface ProviderResult {
  /** Text reply (text steps; also the raw JSON text of JSON steps). */
  text?: string;
  /** Parsed and schema-checked JSON (JSON steps). */
  json?: unknown;
  media?: GeneratedMedia[];
  /** Embedding vectors, one per input text, in order. */
  vectors?: number[][];
  /** Set when the model refused on safety grounds; the step becomes `filtered`. */
  filtered?: { reason: string };
  /**
   * Why the model stopped, as Gemini says it (Candidate.finishReason: STOP, MAX_TOKENS, SAFETY…), or
   * PROMPT_BLOCKED_<blockReason> when the prompt was refused; absent for models that give none.
   */
  finishReason?: string;
  /** A reply cut at max_output_tokens, kept because the step says `on_truncated: keep`. */
  truncated?: boolean;
  usage: Usage;
  modelVersion?: string;
  responseId?: string;
}

/** Long-running video: start returns an operation name that is checkpointed before polling. */
export interface VideoOperationStatus {
  done: boolean;
  result?: ProviderResult;
}

/**
 * A provider turns a request into a result with one client. It knows nothing of the store, the
 * scheduler or other projects; errors are thrown already classified (src/resilience/classify-error.ts).
 */
/** Where a long-running call keeps its operation name, so a resume polls it instead of paying again. */
export interface OperationCheckpoint {
  /** The operation started by an earlier, interrupted attempt, if any. */
  operationName: string | undefined;
  /** Called as soon as a new operation exists, before any polling. */
  save(operationName: string): void;
}

export interface Provider {
  readonly task: TaskKind;
  call(client: GoogleGenAI, request: ProviderRequest): Promise<ProviderResult>;
  /** Long-running tasks (video): start or resume an operation, checkpointing its name at once. */
  callResumable?(client: GoogleGenAI, request: ProviderRequest, checkpoint: OperationCheckpoint): Promise<ProviderResult>;
  /** Long-running tasks: start an operation and return its name (the engine parks and polls it). */
  start?(client: GoogleGenAI, request: ProviderRequest): Promise<string>;
  /** Long-running tasks: one poll of an operation, by name alone. */
  poll?(client: GoogleGenAI, operationName: string, request: ProviderRequest): Promise<VideoOperationStatus>;
}

export function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, thoughtsTokens: 0, images: 0, videoSeconds: 0, characters: 0, cachedTokens: 0 };
}
