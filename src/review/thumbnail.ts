import { stat } from 'node:fs/promises';
import sharp from 'sharp';

export const THUMBNAIL_SIZE = 320;
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.avif', '.gif', '.tif', '.tiff']);
const VIDEO_EXTENSIONS = new Set(['.mp4', '.webm', '.mov']);

export type OutputKind = 'image' | 'video' | 'other';

export function outputKind(file: string): OutputKind {
  const ext = file.slice(file.lastIndexOf('.')).toLowerCase();
  if (IMAGE_EXTENSIONS.has(ext)) return 'image';
  if (VIDEO_EXTENSIONS.has(ext)) return 'video';
  return 'other';
}

export type Thumbnail = { dataUri: string; width: number; height: number } | { error: string };

/**
 * A small WebP of an image file as a data URI (fits inside THUMBNAIL_SIZE, never enlarged), so the
 * review page is one self-contained file. An image that cannot be decoded gives the reason instead.
 */
export async function makeThumbnail(file: string, size = THUMBNAIL_SIZE): Promise<Thumbnail> {
  const found = await stat(file).catch(() => undefined);
  if (!found?.isFile()) return { error: 'the file is missing' };
  try {
    const { data, info } = await sharp(file, { failOn: 'error' })
      .rotate()
      .resize({ width: size, height: size, fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 70 })
      .toBuffer({ resolveWithObject: true });
    return { dataUri: `data:image/webp;base64,${data.toString('base64')}`, width: info.width, height: info.height };
  } catch (error) {
    return { error: `the image cannot be decoded (${(error as Error).message.split('\n')[0] ?? 'unknown error'})` };
  }
}
