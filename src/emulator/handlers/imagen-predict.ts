import { drawImageFault, renderBlankImage, wrongSize } from '../fake-check-faults.js';
import { brokenImageData, IMAGEN_SIZES, renderImage, type ImageFormat } from '../fake-image.js';
import { samplePart } from '../prompt-occurrences.js';
import { seededRandom } from '../seeded-random.js';
import { invalidArgument } from '../vertex-error.js';
import type { HandlerContext, HandlerOutcome, ModelCall } from './model-call.js';
import { asObject, checkLabels, instancesOf, isBlocked, optionalNumber, optionalString } from './request-fields.js';

const MIME_FORMATS: Record<string, ImageFormat> = { 'image/png': 'png', 'image/jpeg': 'jpeg' };

/** :predict for Imagen: one prompt, `sampleCount` images (Vertex's default is 4). */
export async function imagenPredict(call: ModelCall, ctx: HandlerContext): Promise<HandlerOutcome> {
  const instances = instancesOf(call.body);
  if (instances.length > 1) throw invalidArgument(`${call.model} accepts one instance per request; got ${instances.length}.`);
  const prompt = optionalString(instances[0]?.prompt, 'instances[0].prompt');
  if (!prompt) throw invalidArgument('Image generation failed with the following error: The prompt is empty.');

  checkLabels(call.body.labels);
  const parameters = asObject(call.body.parameters) ?? {};
  const sampleCount = optionalNumber(parameters.sampleCount, 'parameters.sampleCount') ?? 4;
  if (!Number.isInteger(sampleCount) || sampleCount < 1 || sampleCount > 4) {
    throw invalidArgument(`Image generation failed with the following error: sampleCount must be between 1 and 4, got ${sampleCount}.`);
  }
  const aspectRatio = optionalString(parameters.aspectRatio, 'parameters.aspectRatio') ?? '1:1';
  const size = IMAGEN_SIZES[aspectRatio];
  if (!size) throw invalidArgument(`Image generation failed with the following error: Unsupported aspect ratio "${aspectRatio}".`);
  const seed = optionalNumber(parameters.seed, 'parameters.seed');
  if (seed !== undefined && parameters.addWatermark !== false) {
    throw invalidArgument('Image generation failed with the following error: Seed is not supported when watermark is enabled; set addWatermark to false.');
  }
  const mimeType = optionalString(asObject(parameters.outputOptions)?.mimeType, 'parameters.outputOptions.mimeType') ?? 'image/png';
  const format = MIME_FORMATS[mimeType];
  if (!format) throw invalidArgument(`Image generation failed with the following error: Unsupported output mime type "${mimeType}".`);
  const scale = parameters.sampleImageSize === '2K' ? 2 : 1;
  const negativePrompt = optionalString(parameters.negativePrompt, 'parameters.negativePrompt') ?? '';
  const safetyAttributes = parameters.includeSafetyAttributes === true;

  if (isBlocked(prompt, ctx.config.blocked_terms)) {
    // Without includeRaiReason, Vertex silently drops filtered images.
    const predictions =
      parameters.includeRaiReason === true
        ? [
            {
              raiFilteredReason: `Your current safety filter threshold filtered out ${sampleCount} generated images. You will not be charged for blocked images. Try rephrasing the prompt. Support codes: 58061214`,
            },
          ]
        : undefined;
    return { body: predictions ? { predictions } : {}, usage: {} };
  }

  // Each ask of a prompt paints new pictures, unless the request fixes its `seed` (then the same ones).
  const asked = ctx.occurrences.next(call.model, 'predict', prompt, negativePrompt);
  const sample = seed === undefined ? samplePart(asked) : [];
  const predictions: Record<string, unknown>[] = [];
  // Broken base64 only when the config asks for it, drawn per ask and image, so a retry can succeed.
  const badRate = ctx.config.models[call.model]?.bad_image_rate ?? ctx.config.bad_image_rate;
  for (let i = 0; i < sampleCount; i++) {
    const rng = seededRandom(ctx.config.seed, call.model, 'imagen', prompt, negativePrompt, seed ?? '', i, ...sample);
    // A blank or wrong-size image when the config's check_faults ask for one, drawn per ask and image.
    const fault = drawImageFault(ctx.config.models[call.model]?.check_faults, ctx.config.seed, call.model, `${prompt}\u0001${negativePrompt}`, asked, i);
    const [width, height] = [size[0] * scale, size[1] * scale];
    const bytes =
      fault?.kind === 'blank'
        ? await renderBlankImage(rng, width, height, format)
        : await renderImage(rng, ...(fault?.kind === 'wrong_size' ? wrongSize(fault, width, height) : ([width, height] as const)), format);
    const broken = badRate > 0 && seededRandom(ctx.config.seed, call.model, 'bad-image', prompt, negativePrompt, asked, i).chance(badRate);
    predictions.push({
      bytesBase64Encoded: broken ? brokenImageData(bytes) : bytes.toString('base64'),
      mimeType,
      ...(safetyAttributes ? { safetyAttributes: { categories: [], scores: [] } } : {}),
    });
  }
  // With safety attributes asked for, Vertex adds one more prediction, the prompt's own scores: not an
  // image, and not billed (only predictions with bytesBase64Encoded are images).
  if (safetyAttributes) predictions.push({ contentType: 'Positive Prompt', safetyAttributes: { categories: [], scores: [] } });
  return { body: { predictions }, usage: { images: sampleCount } };
}
