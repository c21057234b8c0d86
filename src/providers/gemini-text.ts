import type { GenerateContentConfig, GenerateContentResponse, GoogleGenAI } from '@google/genai';
import type { Provider, ProviderRequest, ProviderResult } from './provider.js';
import { compact } from './compact.js';
import { replyText, safetyRefusal, usageOf, vertexLabels } from './gemini-reply.js';
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

export function readReply(response: GenerateContentResponse, request: ProviderRequest): ProviderResult {
  const usage = usageOf(response);
  const meta = compact({ modelVersion: response.modelVersion, responseId: response.responseId });
  const refusal = safetyRefusal(response);
  if (refusal) return { filtered: { reason: refusal }, usage, ...meta };

  const candidate = response.candidates?.[0];
  if (!candidate) throw badResponse('Vertex AI replied without any candidate.', usage);
  const text = replyText(candidate);
  const finish = candidate.finishReason ?? 'STOP';
  if (!request.jsonSchema) {
    if (text === '') throw badResponse(`The model replied with no text (finish reason ${finish}).`, usage);
    return { text, usage, ...meta };
  }
  if (finish === 'MAX_TOKENS') {
    throw badResponse(
      `The JSON reply was cut off at max_output_tokens (${request.maxOutputTokens ?? 'model limit'}) before it was complete; raise max_output_tokens for this step.`,
      usage,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw badResponse(`The reply is not valid JSON (${(error as Error).message}); it starts with "${snippet(text)}".`, usage);
  }
  const problems = schemaProblems(request.jsonSchema, json);
  if (problems.length > 0) throw badResponse(`The JSON reply does not match the step's schema: ${problems.join('; ')}.`, usage);
  return { text, json, usage, ...meta };
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
