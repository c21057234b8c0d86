import { extname } from 'node:path';
import sharp, { type OutputInfo, type Sharp } from 'sharp';
import type { PostOp } from '../job/schema.js';

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'avif';

const EXTENSION_FORMATS: Record<string, ImageFormat> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp', '.avif': 'avif' };

export function formatFromFileName(file: string): ImageFormat | undefined {
  return EXTENSION_FORMATS[extname(file).toLowerCase()];
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

/** Greedy word wrap by an average glyph width; good enough for a caption band. */
function wrap(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line === '') line = word;
    else if (line.length + 1 + word.length <= maxChars) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

const GLYPH_WIDTH = 0.56; // average advance of DejaVu/Liberation Sans glyphs, in ems

/** The text band of `overlay_text`: font size fitted so the wrapped text (at most 3 lines) fits the width. */
export function captionSvg(
  width: number,
  text: string,
  options: { maxFontSize: number; color: string; bandColor: string; bandOpacity: number },
): { svg: Buffer; height: number } {
  const padding = Math.round(width * 0.04);
  const usable = width - 2 * padding;
  let fontSize = options.maxFontSize;
  let lines = wrap(text, Math.max(1, Math.floor(usable / (fontSize * GLYPH_WIDTH))));
  while (fontSize > 12 && (lines.length > 3 || lines.some((l) => l.length * fontSize * GLYPH_WIDTH > usable))) {
    fontSize -= 2;
    lines = wrap(text, Math.max(1, Math.floor(usable / (fontSize * GLYPH_WIDTH))));
  }
  const lineHeight = Math.round(fontSize * 1.25);
  const height = lines.length * lineHeight + 2 * padding;
  const tspans = lines
    .map((l, i) => `<text x="${padding}" y="${padding + (i + 1) * lineHeight - Math.round(fontSize * 0.3)}">${escapeXml(l)}</text>`)
    .join('');
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="${escapeXml(options.bandColor)}" fill-opacity="${options.bandOpacity}"/>` +
    `<g font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-weight="bold" font-size="${fontSize}" fill="${escapeXml(options.color)}">${tspans}</g></svg>`;
  return { svg: Buffer.from(svg), height };
}

/**
 * Applies a step's `output.post` operations in order and encodes in the target format (from a
 * `format` op, else from the file extension). Texts in ops are already rendered by the caller.
 */
export async function postProcessImage(input: Buffer, ops: readonly PostOp[], targetFile: string, readWatermark: (path: string) => Promise<Buffer>): Promise<Buffer> {
  // Between operations the image stays as raw pixels: no encode/decode round trips.
  let current: { data: Buffer; info: OutputInfo } = await sharp(input).raw().toBuffer({ resolveWithObject: true });
  const hadAlpha = current.info.channels === 4;
  const next = (pipeline: Sharp): Promise<{ data: Buffer; info: OutputInfo }> => pipeline.raw().toBuffer({ resolveWithObject: true });
  const load = (): Sharp => sharp(current.data, { raw: { width: current.info.width, height: current.info.height, channels: current.info.channels } });
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
      const { width, height } = current.info;
      const band = captionSvg(width, op.overlay_text.text, {
        maxFontSize: op.overlay_text.max_font_size,
        color: op.overlay_text.color,
        bandColor: op.overlay_text.band_color,
        bandOpacity: op.overlay_text.band_opacity,
      });
      const top = op.overlay_text.position === 'top' ? 0 : Math.max(0, height - band.height);
      current = await next(load().composite([{ input: band.svg, top, left: 0 }]));
    } else if ('watermark' in op) {
      const { width, height } = current.info;
      const markWidth = Math.max(1, Math.round(width * op.watermark.scale));
      // Scale the watermark's alpha by the opacity: multiply the alpha channel only.
      const mark = await sharp(await readWatermark(op.watermark.image))
        .resize({ width: markWidth })
        .ensureAlpha()
        .linear([1, 1, 1, op.watermark.opacity], [0, 0, 0, 0])
        .png()
        .toBuffer({ resolveWithObject: true });
      const mh = mark.info.height;
      const margin = Math.round(width * 0.02);
      const positions = {
        'top-left': { left: margin, top: margin },
        'top-right': { left: width - markWidth - margin, top: margin },
        'bottom-left': { left: margin, top: height - mh - margin },
        'bottom-right': { left: width - markWidth - margin, top: height - mh - margin },
        center: { left: Math.round((width - markWidth) / 2), top: Math.round((height - mh) / 2) },
      } as const;
      const at = positions[op.watermark.position];
      current = await next(load().composite([{ input: mark.data, left: Math.max(0, at.left), top: Math.max(0, at.top), blend: 'over' }]));
    } else if ('strip_metadata' in op) {
      keepMetadata = !op.strip_metadata;
    }
  }
  let pipeline = load();
  // Compositing adds an alpha channel; drop it again when the source image had none.
  if (!hadAlpha && current.info.channels === 4) pipeline = pipeline.removeAlpha();
  if (keepMetadata) pipeline = pipeline.keepMetadata();
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
