import type { GenerateContentConfig, GenerateContentResponse, GoogleGenAI } from '@google/genai';
import type { Provider, ProviderRequest, ProviderResult } from './provider.js';
import { compact } from './compact.js';
import { TruncatedReplyError } from '../errors/provider-errors.js';
import { finishVerdict } from './finish-reasons.js';
import { finishReasonOf, functionCallNames, replyText, safetyRefusal, usageOf, vertexLabels } from './gemini-reply.js';
import { schemaProblems } from './json-validator.js';
import { ProviderParams } from './provider-params.js';
import { badResponse, callVertex } from './vertex-call.js';
import { toVertexSchema } from './vertex-schema.js';

/** Text and JSON steps: Gemini :generateContent, JSON through responseMimeType + responseSchema. */
export const GEMINI_TEXT_PARAMS = ['top_p', 'top_k', 'seed', 'thinking_budget', 'stop_sequences', 'presence_penalty', 'frequency_penalty'] as const;

export function textConfig(request: ProviderRequest): GenerateContentConfig {
  const params = new ProviderParams(request.params, GEMINI_TEXT_PARAMS, `a text step with ${request.model}`);
  // The engine resolves the budget (the step's, else the model's default); the param is checked either way.
  const thinkingBudget = params.number('thinking_budget') ?? request.thinkingBudget;
  const config: GenerateContentConfig = compact({
    systemInstruction: request.system || undefined,
    temperature: request.temperature,
    maxOutputTokens: request.maxOutputTokens,
    topP: params.number('top_p'),
    topK: params.number('top_k'),
    seed: params.number('seed'),
    stopSequences: params.stringList('stop_sequences'),
    presencePenalty: params.number('presence_penalty'),
    frequencyPenalty: params.number('frequency_penalty'),
    thinkingConfig: thinkingBudget === undefined ? undefined : { thinkingBudget },
    labels: vertexLabels(request.labels),
    cachedContent: request.cachedContent,
  });
  if (request.jsonSchema) {
    config.responseMimeType = 'application/json';
    config.responseSchema = toVertexSchema(request.jsonSchema);
  }
  return config;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 80)}…` : flat;
}

/** " (the model's note)" when the candidate carries a finishMessage. */
function finishNote(message: string | undefined): string {
  return message ? ` (${message})` : '';
}

/**
 * Reads a text or JSON reply (online, or a line of a batch job's output) by its finish reason (see
 * finish-reasons.ts): filtered replies are results, truncated ones fail the step unless it keeps
 * them, other reasons and unusable replies are retried; every path carries the reply's usage.
 */
export function readReply(response: GenerateContentResponse, request: ProviderRequest): ProviderResult {
  const usage = usageOf(response);
  const meta = compact({ modelVersion: response.modelVersion, responseId: response.responseId });
  const finishReason = finishReasonOf(response);
  const reason = compact({ finishReason });
  const refusal = safetyRefusal(response);
  if (refusal) return { filtered: { reason: refusal }, usage, ...reason, ...meta };

  const candidate = response.candidates?.[0];
  if (!candidate) throw badResponse('Vertex AI replied without any candidate.', usage);
  const text = replyText(candidate);
  const finish = finishReason ?? 'STOP';
  const verdict = finishVerdict(finishReason);
  if (verdict === 'retry') {
    const calls = functionCallNames(candidate);
    const what =
      calls.length > 0
        ? `a function call (${calls.join(', ')}) although the step offers no tools`
        : text === ''
          ? 'no text'
          : `${text.length} characters of text`;
    throw badResponse(`The model stopped with finish reason ${finish}${finishNote(candidate.finishMessage)} and ${what}.`, usage, reason);
  }
  const truncated = verdict === 'truncated';
  if (truncated && (request.onTruncated !== 'keep' || text === '')) {
    const limit = request.maxOutputTokens ?? 'the model limit';
    const thoughts = usage.thoughtsTokens > 0 ? `, ${usage.thoughtsTokens} of them spent thinking` : '';
    throw Object.assign(
      new TruncatedReplyError(
        text === ''
          ? `The reply was cut at max_output_tokens (${limit}${thoughts}) before any text.`
          : `The ${request.jsonSchema ? 'JSON ' : ''}reply was cut at max_output_tokens (${limit}${thoughts}) after ${text.length} characters: "${snippet(text)}".`,
        { httpStatus: 200 },
      ),
      { usage },
    );
  }
  if (text === '') {
    const calls = functionCallNames(candidate);
    if (calls.length > 0)
      throw badResponse(`The model replied with a function call (${calls.join(', ')}) and no text, although the step offers no tools.`, usage, reason);
    throw badResponse(`The model replied with no text (finish reason ${finish}).`, usage, reason);
  }
  const kept = truncated ? { truncated: true } : {};
  if (!request.jsonSchema) return { text, usage, ...reason, ...kept, ...meta };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    if (truncated) {
      throw Object.assign(
        new TruncatedReplyError(
          `The JSON reply was cut at max_output_tokens (${request.maxOutputTokens ?? 'the model limit'}) before it was complete, so there is nothing to keep.`,
          {
            httpStatus: 200,
          },
        ),
        { usage },
      );
    }
    throw badResponse(`The reply is not valid JSON (${(error as Error).message}); it starts with "${snippet(text)}".`, usage, reason);
  }
  const problems = schemaProblems(request.jsonSchema, json);
  if (problems.length > 0) throw badResponse(`The JSON reply does not match the step's schema: ${problems.join('; ')}.`, usage, reason);
  return { text, json, usage, ...reason, ...kept, ...meta };
}

export class GeminiTextProvider implements Provider {
  readonly task = 'text' as const;

  async call(client: GoogleGenAI, request: ProviderRequest): Promise<ProviderResult> {
    const config = await callVertex(async () => textConfig(request));
    const response = await callVertex(
      (abortSignal) => client.models.generateContent({ model: request.model, contents: request.prompt, config: { ...config, abortSignal } }),
      request,
    );
    return readReply(response, request);
  }
}
