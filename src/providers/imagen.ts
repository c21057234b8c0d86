import { Models, type GenerateImagesConfig, type GoogleGenAI, type ImagePromptLanguage, type PersonGeneration, type SafetyFilterLevel } from '@google/genai';
import type { GeneratedMedia, Provider, ProviderRequest, ProviderResult } from './provider.js';
import { emptyUsage } from './provider.js';
import { compact } from './compact.js';
import { vertexLabels } from './gemini-reply.js';
import { ProviderParams } from './provider-params.js';
import { badResponse, callVertex } from './vertex-call.js';

// generateImages is the SDK's only way to Imagen (:predict); its console.warn that the method is
// deprecated (in favour of Gemini image models, which a job picks by model name) is for the SDK's
// caller, not for the person running a job. The SDK prints it once per process, guarded by this flag.
(Models as unknown as { loggedGenerateImagesWarning: boolean }).loggedGenerateImagesWarning = true;

/** Image steps on Imagen models (`imagen-*`): :predict through client.models.generateImages. */
export const IMAGEN_PARAMS = [
  'sample_count',
  'aspect_ratio',
  'negative_prompt',
  'seed',
  'output_mime_type',
  'compression_quality',
  'add_watermark',
  'person_generation',
  'safety_filter_level',
  'image_size',
  'enhance_prompt',
  'guidance_scale',
  'language',
] as const;

function imagenConfig(request: ProviderRequest): GenerateImagesConfig {
  const params = new ProviderParams(request.params, IMAGEN_PARAMS, `an image step with ${request.model}`);
  const seed = params.number('seed');
  return compact<GenerateImagesConfig>({
    numberOfImages: params.number('sample_count') ?? 1,
    // Filtered images come back with their reason instead of silently missing.
    includeRaiReason: true,
    aspectRatio: params.string('aspect_ratio'),
    negativePrompt: params.string('negative_prompt'),
    seed,
    // Vertex refuses a seed while the invisible watermark is on.
    addWatermark: params.boolean('add_watermark') ?? (seed === undefined ? undefined : false),
    outputMimeType: params.string('output_mime_type'),
    outputCompressionQuality: params.number('compression_quality'),
    personGeneration: params.string('person_generation') as PersonGeneration | undefined,
    safetyFilterLevel: params.string('safety_filter_level') as SafetyFilterLevel | undefined,
    imageSize: params.string('image_size'),
    enhancePrompt: params.boolean('enhance_prompt'),
    guidanceScale: params.number('guidance_scale'),
    language: params.string('language') as ImagePromptLanguage | undefined,
    labels: vertexLabels(request.labels),
  });
}

export class ImagenProvider implements Provider {
  readonly task = 'image' as const;

  async call(client: GoogleGenAI, request: ProviderRequest): Promise<ProviderResult> {
    const config = await callVertex(async () => imagenConfig(request));
    const response = await callVertex(
      (abortSignal) => client.models.generateImages({ model: request.model, prompt: request.prompt, config: { ...config, abortSignal } }),
      request,
    );
    const media: GeneratedMedia[] = [];
    const reasons: string[] = [];
    // Only predictions with bytes are images (and billed): with safety attributes on, Vertex adds a
    // last prediction for the prompt itself ({contentType: "Positive Prompt", safetyAttributes}),
    // which the SDK moves to positivePromptSafetyAttributes and which is skipped here either way.
    for (const generated of response.generatedImages ?? []) {
      if (generated.image?.imageBytes) {
        media.push({ mimeType: generated.image.mimeType ?? 'image/png', data: Buffer.from(generated.image.imageBytes, 'base64') });
      } else if (generated.raiFilteredReason) {
        reasons.push(generated.raiFilteredReason);
      }
    }
    const usage = { ...emptyUsage(), images: media.length };
    if (media.length > 0) return { media, usage };
    if (reasons.length > 0) return { filtered: { reason: reasons.join(' ') }, usage };
    throw badResponse('Imagen replied without any image and without a filter reason.', usage);
  }
}
