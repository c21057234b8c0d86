import type { GenerateContentConfig, GenerateContentResponse, GoogleGenAI } from '@google/genai';
import type { GeneratedMedia, Provider, ProviderRequest, ProviderResult } from './provider.js';
import { finishReasonOf, replyText, safetyRefusal, usageOf, vertexLabels } from './gemini-reply.js';
import { ProviderParams } from './provider-params.js';
import { badResponse, callVertex } from './vertex-call.js';

/** Image steps on Gemini image models (gemini-2.5-flash-image…): :generateContent with IMAGE output. */
export const GEMINI_IMAGE_PARAMS = ['aspect_ratio', 'image_size', 'seed'] as const;

export function imageConfig(request: ProviderRequest): GenerateContentConfig {
  const params = new ProviderParams(request.params, GEMINI_IMAGE_PARAMS, `an image step with ${request.model}`);
  const aspectRatio = params.string('aspect_ratio');
  const imageSize = params.string('image_size');
  const seed = params.number('seed');
  const labels = vertexLabels(request.labels);
  return {
    responseModalities: ['TEXT', 'IMAGE'],
    ...(request.system ? { systemInstruction: request.system } : {}),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(seed === undefined ? {} : { seed }),
    ...(aspectRatio === undefined && imageSize === undefined
      ? {}
      : { imageConfig: { ...(aspectRatio === undefined ? {} : { aspectRatio }), ...(imageSize === undefined ? {} : { imageSize }) } }),
    ...(labels ? { labels } : {}),
  };
}

export class GeminiImageProvider implements Provider {
  readonly task = 'image' as const;

  async call(client: GoogleGenAI, request: ProviderRequest): Promise<ProviderResult> {
    const config = await callVertex(async () => imageConfig(request));
    const response = await callVertex(
      (abortSignal) => client.models.generateContent({ model: request.model, contents: request.prompt, config: { ...config, abortSignal } }),
      request,
    );
    return readImageReply(response);
  }
}

/**
 * The images of a reply (online, or a line of a batch job's output). A safety or policy reason
 * filters the step even when an image came back; images with any other reason are kept (the reason
 * is recorded); no image is retried.
 */
export function readImageReply(response: GenerateContentResponse): ProviderResult {
  const candidate = response.candidates?.[0];
  const media: GeneratedMedia[] = [];
  for (const part of candidate?.content?.parts ?? []) {
    if (part.inlineData?.data) media.push({ mimeType: part.inlineData.mimeType ?? 'image/png', data: Buffer.from(part.inlineData.data, 'base64') });
  }
  const usage = usageOf(response, media.length);
  const finishReason = finishReasonOf(response);
  const meta = {
    ...(finishReason === undefined ? {} : { finishReason }),
    ...(response.modelVersion === undefined ? {} : { modelVersion: response.modelVersion }),
    ...(response.responseId === undefined ? {} : { responseId: response.responseId }),
  };
  const refusal = safetyRefusal(response);
  if (refusal) return { filtered: { reason: refusal }, usage, ...meta };
  if (media.length === 0) {
    const text = replyText(candidate).trim();
    throw badResponse(
      `The model replied without an image (finish reason ${candidate?.finishReason ?? 'none'})${text ? `: "${text.slice(0, 120)}"` : '.'}`,
      usage,
      finishReason === undefined ? {} : { finishReason },
    );
  }
  const text = replyText(candidate);
  return { media, ...(text ? { text } : {}), usage, ...meta };
}
