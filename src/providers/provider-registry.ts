import { InvalidRequestError } from '../errors/provider-errors.js';
import type { Provider, TaskKind } from './provider.js';
import { EMBEDDING_PARAMS, EmbeddingProvider } from './embedding.js';
import { GEMINI_IMAGE_PARAMS, GeminiImageProvider } from './gemini-image.js';
import { GEMINI_TEXT_PARAMS, GeminiTextProvider } from './gemini-text.js';
import { IMAGEN_PARAMS, ImagenProvider } from './imagen.js';
import { VEO_PARAMS, VeoProvider } from './veo.js';

/** Which provider serves a step: the task decides, and for images the model family. */
const providers = {
  text: new GeminiTextProvider(),
  geminiImage: new GeminiImageProvider(),
  imagen: new ImagenProvider(),
  embedding: new EmbeddingProvider(),
  video: new VeoProvider(),
};

export function isImagenModel(model: string): boolean {
  return model.startsWith('imagen-');
}

export function providerFor(task: TaskKind, model: string): Provider {
  switch (task) {
    case 'text':
      return providers.text;
    case 'image':
      return isImagenModel(model) ? providers.imagen : providers.geminiImage;
    case 'embedding':
      return providers.embedding;
    case 'video':
      return providers.video;
    default:
      throw new InvalidRequestError(`Unknown task "${String(task)}": use text, image, embedding or video.`, {});
  }
}

/** The `params:` a step of this task and model accepts (for validating job files before a run). */
export function knownParams(task: TaskKind, model: string): readonly string[] {
  switch (task) {
    case 'text':
      return GEMINI_TEXT_PARAMS;
    case 'image':
      return isImagenModel(model) ? IMAGEN_PARAMS : GEMINI_IMAGE_PARAMS;
    case 'embedding':
      return EMBEDDING_PARAMS;
    case 'video':
      return VEO_PARAMS;
    default:
      return [];
  }
}
