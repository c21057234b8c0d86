import type { Candidate, GenerateContentResponse } from '@google/genai';
import type { Usage } from './provider.js';
import { emptyUsage } from './provider.js';

/** Reading a Gemini generateContent reply: usage, safety refusals and the text parts. */

/** Finish reasons that mean the model refused on safety grounds (the step becomes `filtered`). */
export const SAFETY_FINISH_REASONS = new Set([
  'SAFETY',
  'PROHIBITED_CONTENT',
  'BLOCKLIST',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
  'IMAGE_OTHER',
  'NO_IMAGE',
]);

export function usageOf(response: GenerateContentResponse, images = 0): Usage {
  const meta = response.usageMetadata;
  const usage: Usage = {
    ...emptyUsage(),
    inputTokens: meta?.promptTokenCount ?? 0,
    outputTokens: meta?.candidatesTokenCount ?? 0,
    thoughtsTokens: meta?.thoughtsTokenCount ?? 0,
    // Part of promptTokenCount, billed at the cached price.
    cachedTokens: meta?.cachedContentTokenCount ?? 0,
    images,
  };
  if (meta?.trafficType) usage.trafficType = meta.trafficType;
  return usage;
}

/** The refusal reason when the prompt or the reply was blocked, else undefined. */
export function safetyRefusal(response: GenerateContentResponse, reasons: ReadonlySet<string> = SAFETY_FINISH_REASONS): string | undefined {
  const feedback = response.promptFeedback;
  if (feedback?.blockReason) {
    return `prompt blocked (${feedback.blockReason})${feedback.blockReasonMessage ? `: ${feedback.blockReasonMessage}` : ''}`;
  }
  const candidate = response.candidates?.[0];
  const finish = candidate?.finishReason;
  if (finish && reasons.has(finish)) return `reply blocked (${finish})${candidate.finishMessage ? `: ${candidate.finishMessage}` : ''}`;
  return undefined;
}

/** The reply's text, without thought summaries. */
export function replyText(candidate: Candidate | undefined): string {
  return (candidate?.content?.parts ?? [])
    .filter((part) => typeof part.text === 'string' && part.thought !== true)
    .map((part) => part.text)
    .join('');
}

/** Labels as Vertex accepts them: lowercase letters, digits, `_` and `-`, at most 63 characters. */
export function vertexLabels(labels: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!labels || Object.keys(labels).length === 0) return undefined;
  const clean = (text: string): string =>
    text
      .toLowerCase()
      .replace(/[^\p{Ll}\p{Lo}\p{N}_-]/gu, '_')
      .slice(0, 63);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    let k = clean(key);
    if (!/^\p{Ll}|^\p{Lo}/u.test(k)) k = `l_${k}`.slice(0, 63);
    out[k] = clean(value);
  }
  return out;
}
