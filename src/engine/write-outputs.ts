import { GenbatchError } from '../errors/genbatch-error.js';
import { readFile } from 'node:fs/promises';
import { extname, relative, resolve } from 'node:path';
import type { Job, Step } from '../job/job.js';
import type { AtomicWriter } from '../outputs/atomic-write.js';
import { assertWholeImage } from '../outputs/image-decode.js';
import { formatFromFileName, postProcessImage } from '../outputs/image-post.js';
import { resolveOutputPath } from '../outputs/output-path.js';
import type { PostOp } from '../job/schema.js';
import type { ProviderResult } from '../providers/provider.js';

/** File names for several candidates: `hero.webp` → `hero-1.webp`, `hero-2.webp`. */
function candidateName(target: string, index: number, count: number): string {
  if (count <= 1) return target;
  const ext = extname(target);
  return `${target.slice(0, target.length - ext.length)}-${index + 1}${ext}`;
}

/**
 * Writes a step's outputs atomically and returns their paths relative to the output folder.
 * Text as UTF-8, JSON as JSON, images post-processed and encoded as the file name says.
 */
/** A reply's image or video has no bytes (not inline, not readable from Cloud Storage): the step fails, nothing is written. */
export class MissingOutputBytesError extends GenbatchError {
  constructor(message: string) {
    super(message, {
      code: 'OUTPUT_MISSING_BYTES',
      hint: 'For storage_uri, check that the project can read the bucket (storage.objects.get) or leave storage_uri out to get the bytes inline (docs/video.md).',
    });
  }
}

export async function writeStepOutputs(
  job: Job,
  step: Step,
  itemId: string,
  outputName: string,
  post: readonly PostOp[],
  result: ProviderResult,
  writer: AtomicWriter,
): Promise<string[]> {
  const target = resolveOutputPath(job.outputDir, outputName, itemId, step.name);
  const written: string[] = [];
  if (step.task === 'image' || step.task === 'video') {
    const media = result.media ?? [];
    const ops = post;
    // No output without its bytes: a 0-byte file would be marked done and look like a video.
    for (const [index, item] of media.entries()) {
      if (item.data.length === 0) {
        const where = item.uri ? ` (${item.uri}${item.unreadable ? `: ${item.unreadable}` : ''})` : '';
        throw new MissingOutputBytesError(`${step.task} ${index + 1} of ${media.length} came back without its bytes${where}; nothing was written`);
      }
    }
    for (const [index, item] of media.entries()) {
      const file = candidateName(target, index, media.length);
      let data = item.data;
      // An image is decoded before it is written (once: post-processing decodes it anyway); one that does not decode is a bad reply.
      if (step.task === 'image' && (ops.length > 0 || formatFromFileName(file) !== mimeFormat(item.mimeType))) {
        data = await postProcessImage(item.data, ops, file, (path) => readFile(resolve(job.dir, path)));
      } else if (step.task === 'image') {
        await assertWholeImage(item.data, `image ${index + 1} of ${media.length} (${item.mimeType})`);
      }
      await writer.write(file, data);
      written.push(relative(job.outputDir, file));
    }
  } else if (step.task === 'text') {
    const body = result.json !== undefined ? `${JSON.stringify(result.json, null, 2)}\n` : (result.text ?? '');
    await writer.write(target, body);
    written.push(relative(job.outputDir, target));
  } else {
    const lines = (result.vectors ?? []).map((vector) => JSON.stringify({ id: itemId, vector })).join('\n');
    await writer.write(target, `${lines}\n`);
    written.push(relative(job.outputDir, target));
  }
  return written;
}

function mimeFormat(mime: string): string | undefined {
  return { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/webp': 'webp', 'image/avif': 'avif' }[mime];
}
