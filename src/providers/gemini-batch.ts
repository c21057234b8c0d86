import type { GenerateContentConfig, GenerateContentResponse } from '@google/genai';
import { compact } from './compact.js';
import { imageConfig, readImageReply } from './gemini-image.js';
import { readReply, textConfig } from './gemini-text.js';
import type { ProviderRequest, ProviderResult } from './provider.js';

/**
 * Vertex AI batch prediction, one line at a time: the `request` of an input line is the body of the
 * :generateContent call the online providers make (same config builders), and the `response` of an
 * output line is read by the same reply readers, so a batch line and an online call of the same
 * step ask the same thing and are judged the same way (JSON checked, safety refusals filtered).
 */

/** Fields of the SDK's config that are request fields, not generationConfig (textConfig sets no signal or HTTP options). */
function toRequestBody(prompt: string, config: GenerateContentConfig): Record<string, unknown> {
  const { systemInstruction, labels, safetySettings, ...generationConfig } = config;
  return compact({
    contents: [{ role: 'user', parts: [{ text: prompt }] }],
    systemInstruction: typeof systemInstruction === 'string' ? { parts: [{ text: systemInstruction }] } : systemInstruction,
    generationConfig,
    safetySettings,
    labels,
  });
}

/** The `request` of a batch input line for a text, JSON or Gemini image step (throws a ConfigError on bad params). */
export function batchRequestOf(request: ProviderRequest): Record<string, unknown> {
  const withoutCall = { ...request, signal: undefined, timeoutMs: undefined };
  const config = request.task === 'image' ? imageConfig(withoutCall) : textConfig(withoutCall);
  return toRequestBody(request.prompt, config);
}

/** A batch output line's `response`, read as the online reply would be (throws BadResponseError with its usage). */
export function batchResultOf(response: unknown, request: ProviderRequest): ProviderResult {
  const reply = response as GenerateContentResponse;
  return request.task === 'image' ? readImageReply(reply) : readReply(reply, request);
}
