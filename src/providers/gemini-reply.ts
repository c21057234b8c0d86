import type { Candidate, GenerateContentResponse } from '@google/genai';
import type { Usage } from './provider.js';
import { emptyUsage } from './provider.js';
import { FILTERED_FINISH_REASONS } from './finish-reasons.js';

/** Reading a Gemini generateContent reply: usage, safety refusals and the text parts. */

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

/**
 * The reason recorded for a reply: the candidate's finishReason, or PROMPT_BLOCKED_<blockReason>
 * when the prompt itself was refused (then there is no candidate to carry one).
 */
export function finishReasonOf(response: GenerateContentResponse): string | undefined {
  const blocked = response.promptFeedback?.blockReason;
  if (blocked) return `PROMPT_BLOCKED_${blocked}`;
  const finish = response.candidates?.[0]?.finishReason;
  return finish ? String(finish) : undefined;
}

/**
 * The refusal reason when the prompt or the reply was blocked by a safety or policy filter (see
 * finish-reasons.ts), else undefined. A blocked reply is refused whether or not some text came back.
 */
export function safetyRefusal(response: GenerateContentResponse, reasons: ReadonlySet<string> = FILTERED_FINISH_REASONS): string | undefined {
  const feedback = response.promptFeedback;
  if (feedback?.blockReason) {
    return `prompt blocked (${feedback.blockReason})${feedback.blockReasonMessage ? `: ${feedback.blockReasonMessage}` : ''}`;
  }
  const candidate = response.candidates?.[0];
  const finish = candidate?.finishReason;
  if (finish && reasons.has(finish)) return `reply blocked (${finish})${candidate.finishMessage ? `: ${candidate.finishMessage}` : ''}`;
  return undefined;
}

/** The names of the function calls a reply holds instead of text (a text step offers no tools, so none is expected). */
export function functionCallNames(candidate: Candidate | undefined): string[] {
  return (candidate?.content?.parts ?? []).flatMap((part) => (part.functionCall ? [part.functionCall.name ?? '(unnamed)'] : []));
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
