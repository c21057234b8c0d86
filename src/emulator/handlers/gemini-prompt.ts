import { createHash } from 'node:crypto';
import { billableCharacters, countTextTokens } from '../token-count.js';
import { invalidArgument } from '../vertex-error.js';
import { asObject, type Json } from './request-fields.js';

/**
 * What a Gemini request says, read once for :generateContent and :countTokens, so that
 * promptTokenCount and countTokens' totalTokens always agree.
 */
export interface GeminiPrompt {
  /** All text of `contents`, in order. */
  text: string;
  system: string;
  /** Media parts (inline data or file URIs) in `contents`. */
  mediaParts: number;
  /** What each media part is (MIME type and a hash of its bytes, or its URI), so it counts in the prompt. */
  media: string[];
  generationConfig: Json;
  /** The response schema, whichever field carried it. */
  schema: unknown;
}

/** Gemini bills each input image as 258 tokens. */
const TOKENS_PER_INPUT_MEDIA = 258;

function partsOf(content: unknown, where: string): Json[] {
  const object = asObject(content);
  if (!object) throw invalidArgument(`Invalid value at '${where}': expected a Content object.`);
  const parts = object.parts;
  if (!Array.isArray(parts)) throw invalidArgument(`Invalid value at '${where}.parts': expected a list of parts.`);
  return parts.map((part, i) => {
    const p = asObject(part);
    if (!p) throw invalidArgument(`Invalid value at '${where}.parts[${i}]': expected a Part object.`);
    return p;
  });
}

function describeMedia(part: Json): string {
  const inline = asObject(part.inlineData);
  const file = asObject(part.fileData);
  const mimeType = String(inline?.mimeType ?? file?.mimeType ?? '');
  if (inline)
    return `${mimeType}:${createHash('sha256')
      .update(String(inline.data ?? ''))
      .digest('base64url')
      .slice(0, 22)}`;
  return `${mimeType}:${String(file?.fileUri ?? '')}`;
}

export function readGeminiPrompt(body: Json, { requireContents }: { requireContents: boolean }): GeminiPrompt {
  const contents = body.contents;
  if (contents !== undefined && !Array.isArray(contents)) throw invalidArgument("Invalid value at 'contents': expected a list.");
  if (requireContents && (!Array.isArray(contents) || contents.length === 0)) {
    throw invalidArgument('Unable to submit request because it must include at least one parts field, which describes the prompt input.');
  }
  const texts: string[] = [];
  const media: string[] = [];
  ((contents as unknown[] | undefined) ?? []).forEach((content, i) => {
    for (const part of partsOf(content, `contents[${i}]`)) {
      if (typeof part.text === 'string') texts.push(part.text);
      else if (part.inlineData !== undefined || part.fileData !== undefined) media.push(describeMedia(part));
    }
  });
  const systemTexts: string[] = [];
  if (body.systemInstruction !== undefined) {
    for (const part of partsOf(body.systemInstruction, 'system_instruction')) if (typeof part.text === 'string') systemTexts.push(part.text);
  }
  const generationConfig = asObject(body.generationConfig) ?? {};
  return {
    text: texts.join('\n'),
    system: systemTexts.join('\n'),
    mediaParts: media.length,
    media,
    generationConfig,
    schema: generationConfig.responseSchema ?? generationConfig.responseJsonSchema,
  };
}

/** The input side of usage: text, system instruction, response schema and media. */
export function promptTokens(prompt: GeminiPrompt): number {
  const schemaTokens = prompt.schema === undefined ? 0 : countTextTokens(JSON.stringify(prompt.schema));
  return countTextTokens(prompt.text) + countTextTokens(prompt.system) + schemaTokens + prompt.mediaParts * TOKENS_PER_INPUT_MEDIA;
}

export function promptCharacters(prompt: GeminiPrompt): number {
  return billableCharacters(prompt.text) + billableCharacters(prompt.system);
}

/**
 * What decides what the reply says: system instruction, text, schema and media. Same key and same
 * ask count (see PromptOccurrences) → same reply.
 */
export function promptKey(prompt: GeminiPrompt): string {
  const key = `${prompt.system}\u0001${prompt.text}\u0001${prompt.schema === undefined ? '' : JSON.stringify(prompt.schema)}`;
  return prompt.media.length === 0 ? key : `${key}\u0001${prompt.media.join('\u0001')}`;
}
