import type { GeneratedMedia } from '../providers/provider.js';
import { loadSharp } from './image-post.js';

/**
 * Why the images of a reply are not whole images, or undefined when every one decodes. Each is
 * decoded to its last pixel with sharp (a header alone says nothing: base64 cut off halfway still
 * starts with a valid PNG header), so that no step is done with a file that is not an image.
 * About 10 ms for a 1024×1024 PNG.
 */
export async function undecodableImage(media: readonly GeneratedMedia[]): Promise<string | undefined> {
  const sharp = await loadSharp();
  for (const [index, item] of media.entries()) {
    if (item.data.length === 0) continue; // No bytes: refused where outputs are written (MissingOutputBytesError).
    try {
      await sharp(item.data, { failOn: 'truncated' }).raw().toBuffer();
    } catch (error) {
      return `image ${index + 1} of ${media.length} (${item.mimeType}, ${item.data.length} bytes) is not a whole image: ${(error as Error).message}`;
    }
  }
  return undefined;
}
