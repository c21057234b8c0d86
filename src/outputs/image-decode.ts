import { UndecodableImageError } from '../errors/provider-errors.js';
import { loadSharp } from './load-sharp.js';

/**
 * Decodes an image to its last pixel with sharp, or throws UndecodableImageError: a header alone
 * says nothing (base64 cut off halfway still starts with a valid PNG header), and no step is done
 * with a file that is not an image. About 10-20 ms for a 1024×1024 PNG, on libuv's thread pool.
 * Images that are post-processed or converted are decoded there instead (postProcessImage), once.
 */
export async function assertWholeImage(data: Buffer, what: string): Promise<void> {
  const sharp = await loadSharp();
  try {
    await sharp(data, { failOn: 'truncated' }).raw().toBuffer();
  } catch (error) {
    throw undecodable(data, what, error);
  }
}

export function undecodable(data: Buffer, what: string, error: unknown): UndecodableImageError {
  return new UndecodableImageError(`The reply's ${what} (${data.length} bytes) is not a whole image: ${(error as Error).message}`, { httpStatus: 200 });
}
