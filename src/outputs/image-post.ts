import { extname } from 'node:path';
import type { OutputInfo, Sharp } from 'sharp';
import type { PostOp } from '../job/schema.js';
import { undecodable } from './image-decode.js';
import { loadSharp } from './load-sharp.js';

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'avif';

const EXTENSION_FORMATS: Record<string, ImageFormat> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp', '.avif': 'avif' };

export function formatFromFileName(file: string): ImageFormat | undefined {
  return EXTENSION_FORMATS[extname(file).toLowerCase()];
}

function escapeMarkup(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

/** Raw 8-bit pixels and their layout: what the operations pass to each other. */
interface Pixels {
  data: Buffer;
  info: OutputInfo;
}

const rawOf = (p: Pixels): { raw: { width: number; height: number; channels: 1 | 2 | 3 | 4 } } => ({
  raw: { width: p.info.width, height: p.info.height, channels: p.info.channels },
});

const CAPTION_FONT = 'DejaVu Sans,Liberation Sans,Arial,sans-serif Bold';
/** Pango sizes fonts in points: at 12 pt, `dpi` = 6 × the size in pixels. */
const POINTS = 12;
const dpiFor = (px: number): number => Math.max(1, Math.round((px * 72) / POINTS));
/** Below this the caption is shortened with an ellipsis rather than shrunk further. */
export const MIN_CAPTION_FONT_PX = 12;
/** The band never covers more than this share of the image height. */
export const MAX_BAND_SHARE = 0.4;

export interface CaptionOptions {
  maxFontSize: number;
  color: string;
  bandColor: string;
  bandOpacity: number;
}

export interface Caption {
  /** The semi-transparent band (SVG), full width. */
  band: Buffer;
  bandHeight: number;
  /** The text, laid out by Pango (real glyph metrics, word wrap), as raw RGBA pixels. */
  text: Pixels;
  /** Offset of the text inside the band. */
  padding: number;
  fontPx: number;
  /** Whether the text was cut (with an ellipsis) because even the smallest font did not fit. */
  truncated: boolean;
}

async function renderText(
  markupText: string,
  color: string,
  width: number,
  size: { dpi: number } | { height: number },
): Promise<{ pixels: Pixels; dpi: number }> {
  const sharp = await loadSharp();
  const { data, info } = await sharp({
    text: {
      text: `<span foreground="${escapeMarkup(color)}">${escapeMarkup(markupText)}</span>`,
      font: `${CAPTION_FONT} ${POINTS}`,
      width,
      ...('height' in size ? { height: size.height } : { dpi: size.dpi }),
      rgba: true,
      // Words wrap; a word longer than the line (a URL) breaks between characters.
      wrap: 'word-char',
    },
  })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const dpi = 'height' in size ? (info.textAutofitDpi ?? dpiFor(MIN_CAPTION_FONT_PX)) : size.dpi;
  return { pixels: { data, info }, dpi };
}

/**
 * The caption of `overlay_text` for an image of `width` × `height`: the text wrapped to the width
 * with real glyph metrics, at `maxFontSize` when it fits in the band's share of the height, else at
 * the largest size that fits, and never below MIN_CAPTION_FONT_PX (the text is then shortened).
 */
export async function layoutCaption(width: number, height: number, text: string, options: CaptionOptions): Promise<Caption> {
  const sharp = await loadSharp();
  const padding = Math.max(2, Math.round(Math.min(width, height) * 0.04));
  const usable = Math.max(1, width - 2 * padding);
  const maxTextHeight = Math.max(1, Math.floor(height * MAX_BAND_SHARE) - 2 * padding);
  const clean = text.replace(/\s+/g, ' ').trim();
  const maxPx = Math.max(MIN_CAPTION_FONT_PX, options.maxFontSize);
  // More characters than could ever fit at the smallest size (glyphs at least 0.4 em wide, lines
  // at least 1 em tall) go straight to shortening: rendering them whole could exceed Cairo's
  // surface limit and fail.
  const capacity = Math.ceil((usable / (MIN_CAPTION_FONT_PX * 0.4)) * (maxTextHeight / MIN_CAPTION_FONT_PX));
  const hopeless = clean.length > capacity;

  let rendered = hopeless ? undefined : await renderText(clean, options.color, usable, { dpi: dpiFor(maxPx) });
  let truncated = false;
  if (rendered === undefined || rendered.pixels.info.height > maxTextHeight) {
    if (!hopeless) {
      // Pango picks the largest size that fits the box.
      rendered = await renderText(clean, options.color, usable, { height: maxTextHeight });
      if (rendered.dpi > dpiFor(maxPx)) rendered = await renderText(clean, options.color, usable, { dpi: dpiFor(maxPx) });
    }
    if (rendered === undefined || rendered.dpi < dpiFor(MIN_CAPTION_FONT_PX) || rendered.pixels.info.height > maxTextHeight) {
      // Still too long at the smallest readable size: keep the longest prefix (cut at a word) that fits.
      const dpi = dpiFor(MIN_CAPTION_FONT_PX);
      let lo = 0;
      let hi = Math.min(clean.length, capacity);
      let best = await renderText('…', options.color, usable, { dpi });
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        const cut = clean.slice(0, mid);
        const atWord = cut.lastIndexOf(' ') > mid * 0.6 ? cut.slice(0, cut.lastIndexOf(' ')) : cut;
        const attempt = await renderText(`${atWord.trimEnd()}…`, options.color, usable, { dpi });
        if (attempt.pixels.info.height <= maxTextHeight) {
          best = attempt;
          lo = mid;
        } else hi = mid - 1;
      }
      rendered = best;
      truncated = true;
    }
  }
  // An image too small for even one line at the smallest size: the text is cropped to the image.
  const room = { width: Math.max(1, width - padding), height: Math.max(1, height - padding) };
  if (rendered.pixels.info.width > room.width || rendered.pixels.info.height > room.height) {
    const crop = { left: 0, top: 0, width: Math.min(rendered.pixels.info.width, room.width), height: Math.min(rendered.pixels.info.height, room.height) };
    rendered = {
      ...rendered,
      pixels: await sharp(rendered.pixels.data, rawOf(rendered.pixels)).extract(crop).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }),
    };
    truncated = true;
  }
  const { info } = rendered.pixels;
  const bandHeight = Math.min(height, info.height + 2 * padding);
  const band = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${bandHeight}">` +
      `<rect width="100%" height="100%" fill="${escapeMarkup(options.bandColor)}" fill-opacity="${options.bandOpacity}"/></svg>`,
  );
  return { band, bandHeight, text: rendered.pixels, padding, fontPx: Math.round((rendered.dpi * POINTS) / 72), truncated };
}

/** The watermark at `markWidth` pixels wide, its alpha multiplied by `opacity`, as raw RGBA. */
async function watermarkPixels(image: Buffer, markWidth: number, maxHeight: number, opacity: number): Promise<Pixels> {
  const sharp = await loadSharp();
  const { data, info } = await sharp(image)
    .autoOrient()
    .resize({ width: markWidth, height: maxHeight, fit: 'inside' })
    .toColourspace('srgb')
    .ensureAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  // sharp's linear() runs before ensureAlpha() whatever the call order, and refuses RGB input:
  // scale the alpha channel here, where the layout is known.
  for (let i = 3; i < data.length; i += 4) data[i] = Math.round((data[i] ?? 0) * opacity);
  return { data, info };
}

/**
 * Applies a step's `output.post` operations in order and encodes in the target format (from a
 * `format` op, else from the file extension). Texts in ops are already rendered by the caller.
 * Metadata (EXIF, XMP, ICC, e.g. the provenance a model embeds) is kept unless `strip_metadata`.
 */
export async function postProcessImage(
  input: Buffer,
  ops: readonly PostOp[],
  targetFile: string,
  readWatermark: (path: string) => Promise<Buffer>,
): Promise<Buffer> {
  const sharp = await loadSharp();
  // Between operations the image stays as raw 8-bit sRGB pixels, upright: no encode/decode round
  // trips, and 16-bit, greyscale, CMYK or rotated sources all look the same to the operations.
  let source: Awaited<ReturnType<Sharp['metadata']>>;
  let current: Pixels;
  try {
    source = await sharp(input).metadata();
    current = await sharp(input).autoOrient().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (error) {
    // The reply's bytes are not a whole image (broken base64): a bad reply, not a failed write.
    throw undecodable(input, 'image', error);
  }
  const hadAlpha = source.hasAlpha;
  const sourceMetadata = source.exif !== undefined || source.icc !== undefined || source.xmp !== undefined || source.iptc !== undefined;
  const next = (pipeline: Sharp): Promise<Pixels> => pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const load = (): Sharp => sharp(current.data, rawOf(current));
  let format: ImageFormat = formatFromFileName(targetFile) ?? 'png';
  let quality: number | undefined;
  let keepMetadata = true;
  for (const op of ops) {
    if ('resize' in op) {
      current = await next(load().resize({ width: op.resize.width, height: op.resize.height, fit: op.resize.fit, position: op.resize.position }));
    } else if ('format' in op) {
      format = op.format.type;
      quality = op.format.quality;
    } else if ('overlay_text' in op) {
      if (op.overlay_text.text.trim() === '') continue; // nothing to draw (an empty field): no empty band
      const { width, height } = current.info;
      const caption = await layoutCaption(width, height, op.overlay_text.text, {
        maxFontSize: op.overlay_text.max_font_size,
        color: op.overlay_text.color,
        bandColor: op.overlay_text.band_color,
        bandOpacity: op.overlay_text.band_opacity,
      });
      const top = op.overlay_text.position === 'top' ? 0 : height - caption.bandHeight;
      current = await next(
        load().composite([
          { input: caption.band, top, left: 0 },
          { input: caption.text.data, ...rawOf(caption.text), top: top + caption.padding, left: caption.padding },
        ]),
      );
    } else if ('watermark' in op) {
      const { width, height } = current.info;
      const margin = Math.round(width * 0.02);
      const markWidth = Math.max(1, Math.min(width - 2 * margin, Math.round(width * op.watermark.scale)));
      const mark = await watermarkPixels(await readWatermark(op.watermark.image), markWidth, Math.max(1, height - 2 * margin), op.watermark.opacity);
      const mw = mark.info.width;
      const mh = mark.info.height;
      const positions = {
        'top-left': { left: margin, top: margin },
        'top-right': { left: width - mw - margin, top: margin },
        'bottom-left': { left: margin, top: height - mh - margin },
        'bottom-right': { left: width - mw - margin, top: height - mh - margin },
        center: { left: Math.round((width - mw) / 2), top: Math.round((height - mh) / 2) },
      } as const;
      const at = positions[op.watermark.position];
      current = await next(load().composite([{ input: mark.data, ...rawOf(mark), left: Math.max(0, at.left), top: Math.max(0, at.top), blend: 'over' }]));
    } else if ('strip_metadata' in op) {
      keepMetadata = !op.strip_metadata;
    }
  }
  let pipeline: Sharp;
  if (keepMetadata && sourceMetadata && ops.every((op) => 'format' in op || 'strip_metadata' in op)) {
    pipeline = sharp(input).autoOrient().keepMetadata();
  } else if (keepMetadata && sourceMetadata) {
    // Raw pixels carry no metadata. To keep the source's, paint the processed pixels over the
    // decoded source (same size, `source` blend replaces every pixel) and keep that pipeline's metadata.
    pipeline = sharp(input)
      .autoOrient()
      .resize({ width: current.info.width, height: current.info.height, fit: 'fill', kernel: 'nearest' })
      .composite([{ input: current.data, ...rawOf(current), blend: 'source' }])
      .keepMetadata();
  } else {
    pipeline = load();
  }
  // Compositing adds an alpha channel; drop it again when the source image had none.
  if (!hadAlpha) pipeline = pipeline.removeAlpha();
  switch (format) {
    case 'png':
      return pipeline.png().toBuffer();
    case 'jpeg':
      return pipeline.jpeg(quality === undefined ? {} : { quality }).toBuffer();
    case 'webp':
      return pipeline.webp(quality === undefined ? {} : { quality }).toBuffer();
    case 'avif':
      return pipeline.avif(quality === undefined ? {} : { quality }).toBuffer();
  }
}
