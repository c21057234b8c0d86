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
  const { systemInstruction, labels, safetySettings, cachedContent, ...generationConfig } = config;
  return compact({
    cachedContent,
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

const camel = (key: string): string => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Field names camelCase, null fields and `role` left out, keys sorted: one spelling of what a value says. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([key, v]) => v !== null && v !== undefined && key !== 'role')
      .map(([key, v]) => [camel(key), canonical(v)] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/**
 * What a batch request asks (its contents and system instruction) in one canonical spelling, so that
 * the request Vertex echoes in an output line gives the same text as the request written: Vertex
 * re-serialises it as proto JSON (camelCase names, another field order, unset `oneof` parts as null).
 * Labels and generation settings are left out: they are the same on every line of a step's batch job,
 * and are what proto JSON rewrites most freely (float32 numbers, enum spellings, defaults dropped).
 * Undefined for anything that is not a request object.
 */
export function canonicalRequest(request: unknown): string | undefined {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) return undefined;
  const r = request as Record<string, unknown>;
  return JSON.stringify(canonical({ contents: r.contents ?? null, systemInstruction: r.systemInstruction ?? r.system_instruction ?? null }));
}
